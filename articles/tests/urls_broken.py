"""A URLconf with one view that fails, to check what readers see on a server error."""

from django.urls import include, path


def broken(request):
    raise RuntimeError("boom")


urlpatterns = [path("broken/", broken), path("", include("newsdesk.urls"))]
