"""URLs for `run_bench`: the site plus a minimal view to compare cached pages against."""

from django.http import HttpResponse
from django.urls import include, path


def minimal(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("__bench__/minimal/", minimal),
    path("", include("newsdesk.urls")),
]
