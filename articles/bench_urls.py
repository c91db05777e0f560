"""URLs for `run_bench` and `bench_server` (NEWSDESK_BENCH=1): the site plus a bare view to
compare every page against."""

from django.http import HttpResponse
from django.urls import include, path


def minimal(request):
    return HttpResponse("ok", content_type="text/plain")


urlpatterns = [
    path("__bench__/minimal/", minimal),
    path("", include("newsdesk.urls")),
]
