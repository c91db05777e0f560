"""Webhook endpoints, for superusers: the URL, the events it wants and its secret; on its page
the recent deliveries with every attempt, and a "Send a test event" action. Deliveries are
written by `articles.webhooks` and sent by `deliver_webhooks`."""

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from .. import webhooks
from ..models import Webhook
from .base import DeskAdminMixin

RECENT = 20
EVENT_CHOICES = [(e.value, e.label) for e in Webhook.Event if e != Webhook.Event.TEST]


class WebhookForm(forms.ModelForm):
    url = forms.URLField(
        label="URL",
        max_length=500,
        assume_scheme="https",
        help_text=Webhook._meta.get_field("url").help_text,
    )
    events = forms.MultipleChoiceField(
        choices=EVENT_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: every event.",
    )

    class Meta:
        model = Webhook
        fields = ["url", "events", "secret", "active"]


def _when(value):
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}" if value else "—"


@admin.register(Webhook)
class WebhookAdmin(DeskAdminMixin, admin.ModelAdmin):
    form = WebhookForm
    list_display = ["url", "event_list", "active", "waiting"]
    readonly_fields = ["recent_deliveries"]
    actions = ["send_test"]

    # Endpoints receive every story's text as it changes, and the desk POSTs to them: a
    # superuser's decision only.
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    has_add_permission = has_module_permission
    has_change_permission = has_view_permission
    has_delete_permission = has_view_permission

    def get_queryset(self, request):
        pending = Q(deliveries__delivered_at__isnull=True, deliveries__gave_up_at__isnull=True)
        return super().get_queryset(request).annotate(waiting=Count("deliveries", filter=pending))

    @admin.display(description="Events")
    def event_list(self, obj):
        return ", ".join(obj.events) or "every event"

    @admin.display(description="Waiting", ordering="waiting")
    def waiting(self, obj):
        return obj.waiting

    @admin.display(description="Recent deliveries")
    def recent_deliveries(self, obj):
        if obj.pk is None:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    message.pk,
                    message.event,
                    message.article_id or "—",
                    _when(message.occurred_at),
                    message.status,
                    format_html_join(
                        "",
                        "<li>{}: {}</li>",
                        (
                            (
                                entry["at"][:19].replace("T", " "),
                                entry["error"] or f"HTTP {entry['status']}",
                            )  # fmt: skip
                            for entry in message.log
                        ),
                    )
                    or (
                        f"next try {_when(message.deliver_after)}"
                        if message.status == "queued"
                        else message.last_error or "—"
                    ),
                )
                for message in obj.deliveries.order_by("-pk")[:RECENT]
            ),
        )
        return format_html(
            "<table><thead><tr><th>#</th><th>Event</th><th>Article</th><th>Event time</th>"
            "<th>Status</th><th>Attempts</th></tr></thead><tbody>{}</tbody></table>",
            rows or format_html('<tr><td colspan="6">{}</td></tr>', "No deliveries yet."),
        )

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Send a test event to the selected webhooks")
    def send_test(self, request, queryset):
        for hook in queryset:
            message = webhooks.send_test(hook)
            webhooks.deliver_due(pk=message.pk)
            message.refresh_from_db()
            if message.delivered_at:
                text, level = (
                    f"{hook}: test delivered (HTTP {message.last_status}).",
                    messages.SUCCESS,
                )
            elif message.attempts:
                text = f"{hook}: test failed ({message.last_error}); it will be retried."
                level = messages.WARNING
            else:
                text = f"{hook}: test queued behind earlier deliveries still waiting."
                level = messages.INFO
            self.message_user(request, text, level)
