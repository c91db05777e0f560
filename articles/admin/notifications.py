"""The desk inbox's two actions: open a notice (marks it read, then shows its article) and mark
all read. The inbox itself is a panel of the desk dashboard (`templatetags/desk.py`); nobody
browses or edits notices as a model."""

from django.contrib import admin, messages
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from .. import services
from ..models import Notification
from .audit import ReadOnlyAdmin


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    def has_module_permission(self, request):
        return False

    def has_view_permission(self, request, obj=None):
        return False

    def get_urls(self):
        def page(view, route, name):
            return path(
                route, self.admin_site.admin_view(view), name=f"articles_notification_{name}"
            )

        return [
            page(self.open_view, "<int:pk>/open/", "open"),
            page(self.read_all_view, "read/", "read_all"),
        ]

    def open_view(self, request, pk):
        """Mark the notice read and go to its article; someone else's notice is a 404."""
        notification = Notification.objects.inbox(request.user).filter(pk=pk).first()
        if notification is None:
            raise Http404("No such notification.")
        services.notification_open(notification, user=request.user)
        if notification.article_id is None:
            return HttpResponseRedirect(reverse("admin:index"))
        return HttpResponseRedirect(
            reverse("admin:articles_article_change", args=[notification.article_id])
        )

    def read_all_view(self, request):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        count = services.notifications_mark_all_read(user=request.user)
        self.message_user(request, f"{count} notification(s) marked read.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:index"))
