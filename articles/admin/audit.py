"""The audit trail, read-only: who did what, and when, filterable by user, action, date and
article. Entries are written by `services.audit_record` only.

Also django-axes' failed sign-in records, for superusers: unlocking them here (never deleting)
goes through `logins.login_unlock`, which leaves an UNLOCK entry in the trail."""

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

from ..logins import login_unlock
from ..models import Article, AuditEntry
from .base import DeskAdminMixin

Action, State = AuditEntry.Action, Article.State
# What someone did, as a sentence: "{who} {verb}" with the article's headline in `{what}`.
VERBS = {
    Action.CREATE: "created {what}",
    Action.SAVE: "saved {what}",
    Action.DRAFT_REVISION: "saved a draft revision of {what}",
    Action.PUBLISH_REVISION: "published a draft revision of {what}",
    Action.RESTORE_REVISION: "restored an earlier revision of {what}",
    Action.BULK: "changed {what} in a bulk action",
    Action.CORRECTION: "added a correction to {what}",
    Action.WITHDRAW: "withdrew {what}",
    Action.TRASH: "moved {what} to the trash",
    Action.RESTORE: "restored {what} from the trash",
    Action.EMPTY_TRASH: "emptied the trash",
    Action.DELETE: "deleted {what}",
    Action.MERGE: "merged {what}",
    Action.IMPORT: "imported {what}",
    Action.CONFLICT: "could not save {what}: someone else had saved it first",
    Action.LOGIN: "signed in",
}
# Sign-in troubles name the username tried and the address it came from, not a desk user.
SIGN_INS = {
    Action.LOGIN_FAILED: "A sign-in as {what}{where} failed",
    Action.LOCKOUT: "Sign-ins as {what}{where} were locked out after {failures} failures",
    Action.UNLOCK: "{who} unlocked sign-ins as {what}{where}",
}
# API keys name the key and its scope.
KEYS = {
    Action.API_KEY_CREATE: "{who} made the API key {what}, scope {scope}",
    Action.API_KEY_REVOKE: "{who} revoked the API key {what}, scope {scope}",
}
MOVES = {
    State.PUBLISHED: "published {what}",
    State.SCHEDULED: "scheduled {what}",
    State.REVIEW: "submitted {what} for review",
    State.DRAFT: "sent {what} back to draft",
}


class ReadOnlyAdmin(DeskAdminMixin, admin.ModelAdmin):
    """Rows written by `services` only: nobody adds, changes or deletes them in the desk."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["sentence", "article_link"]
    list_filter = ["action", ("user", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["object_repr", "article__headline", "user__username"]
    list_select_related = ["user", "article"]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False

    @admin.display(description="What happened", ordering="created_at")
    def sentence(self, obj):
        """ "Maria Lopez published “Headline” — 2 Dec 14:32", with the note written, if any."""
        who = obj.user.get_full_name() or obj.user.get_username() if obj.user else "The system"
        detail = obj.detail if isinstance(obj.detail, dict) else {}
        when = date_format(timezone.localtime(obj.created_at), "j M H:i")
        if obj.action in SIGN_INS:
            where = f" from {detail['ip']}" if detail.get("ip") else ""
            text = SIGN_INS[obj.action].format(
                who=who, what=f"“{obj.object_repr}”", where=where, failures=detail.get("failures")
            )
            return f"{text} — {when}"
        if obj.action in KEYS:
            scope = detail.get("scope", "")
            text = KEYS[obj.action].format(who=who, what=f"“{obj.object_repr}”", scope=scope)
            return f"{text} — {when}"
        verb = VERBS.get(obj.action, "{what}: " + obj.get_action_display().lower())
        came_from, went_to = detail.get("from"), detail.get("to")
        if went_to in MOVES and came_from not in (None, went_to):
            if went_to != State.DRAFT:
                verb = MOVES[went_to]
            elif came_from != "new":  # a new draft is simply "created"
                verb = MOVES[went_to] if came_from == State.REVIEW else "unpublished {what}"
        title = obj.article.headline if obj.article_id else obj.object_repr
        what = f"“{title}”" if title else "an item"
        note = f": “{detail['note']}”" if detail.get("note") else ""
        return f"{who} {verb.format(what=what)}{note} — {when}"

    @admin.display(description="Article", ordering="article")
    def article_link(self, obj):
        if obj.article_id is None:
            return "—"
        return format_html(
            '<a href="?article__id__exact={}">{}</a>', obj.article_id, obj.article.headline
        )


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)


@admin.register(AccessAttempt)
class SignInAttemptAdmin(AccessAttemptAdmin):
    """django-axes' records of failed sign-ins (superusers only, as nobody else is given their
    permissions). Unlock, never delete: only the action leaves a trace in the audit trail."""

    actions = ["unlock"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Unlock the selected sign-ins", permissions=["unlock"])
    def unlock(self, request, queryset):
        pairs = set(queryset.values_list("username", "ip_address"))
        for username, ip_address in sorted(pairs, key=str):
            login_unlock(username=username, ip_address=ip_address, user=request.user)
        self.message_user(request, f"Unlocked {len(pairs)} sign-in(s).", messages.SUCCESS)

    def has_unlock_permission(self, request):
        return request.user.is_superuser
