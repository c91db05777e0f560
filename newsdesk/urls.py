from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from django.views.static import serve

from articles import views as article_views
from articles.admin.views import shortcut
from articles.api import urls as api_urls

urlpatterns = [
    # Ahead of the admin's own "view on site" redirect, which would reveal a draft's address.
    path("admin/r/<str:content_type_id>/<path:object_id>/", admin.site.admin_view(shortcut)),
    path("admin/", admin.site.urls),
    path("healthz", article_views.healthz, name="healthz"),
    path("robots.txt", article_views.robots_txt, name="robots"),
    path("sitemap.xml", article_views.sitemap_index, name="sitemap"),
    path("sitemap-<section>.xml", article_views.sitemap_section, name="sitemap-section"),
    path("news-sitemap.xml", article_views.news_sitemap, name="news-sitemap"),
    path("api/v1/", api_urls()),
    path("", include("articles.urls")),
]

if settings.SERVE_MEDIA:
    # Uploaded images; behind a reverse proxy set NEWSDESK_SERVE_MEDIA=0 and serve MEDIA_ROOT there.
    urlpatterns += [
        re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT}),
    ]

admin.site.site_header = settings.SITE_NAME
admin.site.site_title = settings.SITE_NAME
admin.site.index_title = "Desk"
