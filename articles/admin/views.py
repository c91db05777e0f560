"""The desk's pages beyond add/change/list, as view classes (like Django's `AutocompleteJsonView`):
the trash, revisions (list, compare, restore, publish), withdrawal, share links, wire import and
the change form's autosave.

Each is built by `ArticleAdmin.get_urls` with the model admin it serves; permissions come from
`workflow`, and every change goes through a function in `services`.
"""

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.views import shortcut as django_shortcut
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.views import View

from .. import services, workflow
from ..diffs import FIELD_LABELS, snapshot_diff_html
from ..importers import ImportResult, import_file_bytes
from ..models import Article, AuditEntry, ShareLink
from .base import NUL_MESSAGE, desk_id, holds_nul
from .forms import ShareLinkForm, WireImportForm


def desk_url(name, *args):
    return reverse(f"admin:articles_article_{name}", args=args)


class DeskView(View):
    """A page of the article admin: its context, and the article it is about."""

    model_admin = None
    template_name = None
    title = ""

    def article(self, request, object_id) -> Article:
        """The article, if this user may see it in the desk (withdrawn ones included; trashed
        ones are hidden until restored)."""
        if not self.model_admin.has_view_or_change_permission(request):
            raise PermissionDenied
        obj = self.model_admin.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such article.")
        if not self.model_admin.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def render(self, request, context, *, status=200, obj=None):
        context = {
            **self.model_admin.admin_site.each_context(request),
            "opts": self.model_admin.model._meta,
            "original": obj,
            "article": obj,
            **context,
        }
        return TemplateResponse(request, self.template_name, context, status=status)

    def done(self, request, message, url, level=messages.SUCCESS):
        self.model_admin.message_user(request, message, level)
        return HttpResponseRedirect(url)


def audit_trail_url(model_admin, request, article=None) -> str | None:
    """The audit trail (of one article), if the audit admin lets this user see it."""
    if not model_admin.admin_site.get_model_admin(AuditEntry).has_view_permission(request):
        return None
    url = reverse("admin:articles_auditentry_changelist")
    return url if article is None else f"{url}?article__id__exact={article.pk}"


class TrashView(DeskView):
    template_name = "admin/articles/article/trash.html"

    @staticmethod
    def allowed(user) -> bool:
        return workflow.can_delete(user)

    def dispatch(self, request, *args, **kwargs):
        if not self.allowed(request.user):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        trashed = Article.objects.in_trash().order_by("-deleted_at")
        return self.render(
            request,
            {
                "title": "Trash",
                "trashed": trashed[:500],
                "count": trashed.count(),
                "can_empty": request.user.has_perm("articles.empty_trash"),
            },
        )

    def post(self, request):
        if "restore" in request.POST:
            article = Article.objects.in_trash().filter(pk=desk_id(request.POST["restore"])).first()
            if article is None:
                return self.done(request, "That article is not in the trash.", desk_url("trash"),
                                 messages.ERROR)  # fmt: skip
            services.article_restore_from_trash(article, user=request.user)
            message = format_html(
                "“{}” restored. <a href='{}'>Edit it</a>.", article, desk_url("change", article.pk)
            )
            return self.done(request, message, desk_url("trash"))
        if "empty" in request.POST:
            if not request.user.has_perm("articles.empty_trash"):
                raise PermissionDenied
            if request.POST.get("confirm") != "yes":
                return self.done(request, "Tick the box to confirm emptying the trash.",
                                 desk_url("trash"), messages.ERROR)  # fmt: skip
            count = services.trash_empty(user=request.user)
            return self.done(
                request, f"Trash emptied: {count} article(s) deleted.", desk_url("trash")
            )
        return HttpResponseRedirect(desk_url("trash"))


class RevisionsView(DeskView):
    template_name = "admin/articles/article/revisions.html"

    def get(self, request, object_id):
        obj = self.article(request, object_id)
        return self.render(
            request,
            {
                "title": f"Revisions of “{obj}”",
                "revisions": obj.revisions.select_related("created_by").order_by("-number"),
                "can_restore": workflow.can_edit(request.user, obj),
                "can_publish": services.can_publish_revision(request.user, obj),
                "audit_url": audit_trail_url(self.model_admin, request, obj),
            },
            obj=obj,
        )


class RevisionCompareView(DeskView):
    template_name = "admin/articles/article/revision_compare.html"

    def get(self, request, object_id):
        obj = self.article(request, object_id)
        a, b = desk_id(request.GET.get("a")), desk_id(request.GET.get("b"))
        if a is None or b is None:
            return HttpResponseBadRequest("Choose two revisions to compare.")
        found = {r.number: r for r in obj.revisions.filter(number__in=[a, b])}
        if a not in found or b not in found:
            return HttpResponseBadRequest("No such revision of this article.")
        old, new = sorted([found[a], found[b]], key=lambda r: r.number)
        return self.render(
            request,
            {
                "title": f"Revision {old.number} → {new.number} of “{obj}”",
                "old": old,
                "new": new,
                "diff": snapshot_diff_html(old.data, new.data),
            },
            obj=obj,
        )


def _load_url(revision) -> str:
    return f"{desk_url('change', revision.article_id)}?revision={revision.number}"


def _revision(obj, number):
    revision = obj.revisions.filter(number=number).first()
    if revision is None:
        raise Http404("No such revision.")
    return revision


class RevisionRestoreView(DeskView):
    """Restoring loads the revision into the change form for review; nothing is saved until the
    editor saves the form (which records the restore)."""

    def get(self, request, object_id, number):
        revision = _revision(self.article(request, object_id), number)
        return HttpResponseRedirect(_load_url(revision))

    post = get


class RevisionPublishView(DeskView):
    """ "Publish this revision" on the revisions page (POST only). A draft revision written
    before later live edits keeps them; when both changed a field, nothing is published and the
    form opens with the two combined for the editor to settle."""

    def get(self, request, object_id, number):
        return HttpResponseBadRequest("Use the button on the revisions page.")

    def post(self, request, object_id, number):
        obj = self.article(request, object_id)
        revision = _revision(obj, number)
        try:
            merge = services.revision_publish(
                revision, user=request.user, substantive=bool(request.POST.get("substantive"))
            )
        except services.RevisionConflict as exc:
            return self.done(request, str(exc), _load_url(revision), messages.ERROR)
        except ValueError as exc:
            return self.done(request, str(exc), desk_url("revisions", obj.pk), messages.ERROR)
        message = f"Draft revision {revision.number} is now what readers see."
        if merge.taken:
            kept = ", ".join(label for name, label in FIELD_LABELS if name in merge.taken)
            message += f" Live edits made after it was written were kept: {kept.lower()}."
        return self.done(request, message, desk_url("revisions", obj.pk))


class WithdrawView(DeskView):
    template_name = "admin/articles/article/withdraw.html"

    def get(self, request, object_id, error="", status=200):
        obj = self.article(request, object_id)
        if not workflow.can_withdraw(request.user, obj):
            raise PermissionDenied
        context = {"title": f"Withdraw “{obj}”", "error": error,
                   "reason": request.POST.get("reason", "")}  # fmt: skip
        return self.render(request, context, status=status, obj=obj)

    def post(self, request, object_id):
        obj = self.article(request, object_id)
        if holds_nul(request.POST.get("reason", "")):
            return self.get(request, object_id, error=NUL_MESSAGE, status=400)
        try:
            services.article_withdraw(obj, user=request.user, reason=request.POST.get("reason"))
        except ValueError as exc:
            return self.get(request, object_id, error=str(exc), status=400)
        return self.done(
            request,
            f"“{obj}” is withdrawn: its address now answers 410 Gone with your reason.",
            desk_url("change", obj.pk),
        )


class ShareLinksView(DeskView):
    template_name = "admin/articles/article/share_links.html"

    def article(self, request, object_id):
        obj = super().article(request, object_id)
        if not workflow.can_share(request.user, obj):
            raise PermissionDenied
        return obj

    def get(self, request, object_id, form=None):
        obj = self.article(request, object_id)
        links = ShareLink.objects.filter(article=obj).prefetch_related("opens")
        context = {
            "title": f"Share links for “{obj}”",
            "form": form or ShareLinkForm(),
            "links": [
                (link, request.build_absolute_uri(link.get_absolute_url())) for link in links
            ],
            "now": timezone.now(),
        }
        return self.render(request, context, obj=obj, status=400 if form else 200)

    def post(self, request, object_id):
        obj = self.article(request, object_id)
        here = desk_url("share", obj.pk)
        if "revoke" in request.POST:
            link = ShareLink.objects.filter(pk=desk_id(request.POST["revoke"]), article=obj).first()
            if link is None:
                return self.done(request, "No such share link.", here, messages.ERROR)
            services.share_link_revoke(link, user=request.user)
            return self.done(request, "Share link revoked: it now answers 404.", here)
        form = ShareLinkForm(request.POST)
        if not form.is_valid():
            return self.get(request, object_id, form=form)
        link = services.share_link_create(obj, user=request.user, **form.cleaned_data)
        when = timezone.localtime(link.expires_at)
        return self.done(request, f"Share link created; it expires {when:%d %b %Y %H:%M}.", here)


class WireImportView(DeskView):
    template_name = "admin/articles/article/import.html"

    def dispatch(self, request, *args, **kwargs):
        if not self.model_admin.has_add_permission(request):
            raise PermissionDenied
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, form=None, result=None, summary=""):
        form = form or WireImportForm(user=request.user)
        context = {"title": "Import wire copy", "form": form, "result": result, "summary": summary}
        return self.render(request, context)

    def post(self, request):
        form = WireImportForm(request.POST, request.FILES, user=request.user)
        if not form.is_valid():
            return self.get(request, form=form)
        result = ImportResult()
        for upload in form.cleaned_data["files"]:
            data = upload.read(WireImportForm.MAX_BYTES + 1)
            if len(data) > WireImportForm.MAX_BYTES:
                result.failed += 1
                result.errors.append(f"{upload.name}:1: the file is larger than 1 MB")
                continue
            import_file_bytes(
                upload.name,
                data,
                status=form.cleaned_data["status"],
                result=result,
                dry_run=form.cleaned_data["dry_run"],
                user=request.user,
            )
        if form.cleaned_data["dry_run"]:
            summary = (
                f"Dry run — nothing was saved: {result.created} would be created, "
                f"{result.updated} would be updated, {result.unchanged} unchanged, "
                f"{result.failed} failed"
                + (f", {result.skipped} skipped." if result.skipped else ".")
            )
            level = messages.ERROR if result.failed else messages.INFO
        else:
            summary = result.summary() + "."
            level = messages.ERROR if result.failed else messages.SUCCESS
        self.model_admin.message_user(request, summary, level)
        return self.get(request, form=form, result=result, summary=summary)


def _json_error(message, status):
    return JsonResponse({"error": message}, status=status)


class AutosaveView(DeskView):
    """The change form's script posts its text fields here every few seconds and on leaving the
    page; they are kept for this user alone (`services.autosave_store`). Answers JSON."""

    MAX_BYTES = 1024 * 1024

    def editable(self, request, object_id):
        """The article and None, or None and the JSON error to answer."""
        article = Article.objects.in_desk().filter(pk=desk_id(unquote(object_id))).first()
        if article is None:
            return None, _json_error("No such article.", 404)
        if not workflow.can_edit(request.user, article):
            return None, _json_error("You may not edit this article.", 403)
        return article, None

    def get(self, request, object_id):
        return _json_error("Autosave takes a POST from the change form.", 405)

    def post(self, request, object_id):
        article, error = self.editable(request, object_id)
        if error:
            return error
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or int(length) > self.MAX_BYTES:
            return _json_error("Too much text to autosave (1 MB at most).", 413)
        base_version = desk_id(request.POST.get("loaded_version"))
        if base_version is None or base_version > article.version:
            return _json_error("The form's loaded_version is missing or not a known version.", 400)
        readonly = set(self.model_admin.get_readonly_fields(request, article))
        data = {
            name: request.POST[name]
            for name in services.AUTOSAVE_FIELDS
            if name in request.POST and name not in readonly
        }
        if not data:
            return _json_error("Nothing to autosave: no article text was posted.", 400)
        if holds_nul(*data.values()):
            return _json_error(NUL_MESSAGE, 400)
        autosave = services.autosave_store(
            article, user=request.user, base_version=base_version, data=data
        )
        if autosave is None:
            return _json_error("You saved this article since; this autosave was dropped.", 409)
        return JsonResponse({"saved_at": autosave.saved_at.isoformat()})


class AutosaveDiscardView(AutosaveView):
    """The notice's Discard button: forget this user's autosave of the article."""

    def post(self, request, object_id):
        article, error = self.editable(request, object_id)
        if error:
            return error
        services.autosave_discard(article, user=request.user)
        return JsonResponse({"discarded": True})


def shortcut(request, content_type_id, object_id):
    """Django's `/admin/r/<type>/<id>/` ("view on site"), which would tell any staff account a
    draft's address: an article redirects only for readers' articles or to whoever may see it."""
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.filter(pk=desk_id(content_type_id)).first()
    if content_type is not None and content_type.model_class() is Article:
        article = Article.objects.filter(pk=desk_id(object_id)).first()
        if article is None or not (
            article.is_published or workflow.can_view(request.user, article)
        ):
            raise Http404("No such article.")
    return django_shortcut(request, content_type_id, object_id)
