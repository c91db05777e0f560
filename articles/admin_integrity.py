"""The desk's integrity tools, as admin mixins the article, author, category and tag admins
mix in: revisions and their history, edit-conflict refusal, presence, trash, withdrawal,
corrections, merges, and the audit trail."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseBadRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from . import services
from .audit import audit_record
from .diffs import snapshot_diff_html
from .models import Article, AuditEntry, Author, Byline, Category, Correction, Tag


class IntegrityArticleForm(forms.ModelForm):
    """The article change form with the version it was loaded at and the substantive tick."""

    loaded_version = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    substantive_update = forms.BooleanField(
        label="Substantive update",
        required=False,
        help_text="Tick when readers should be told the story changed (“Updated …”). "
        "Leave it clear for silent fixes such as typos.",
    )

    conflict = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "loaded_version" in self.fields:
            self.fields["loaded_version"].initial = self.instance.version
        self.expected_version = self.instance.version

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk or "loaded_version" not in self.fields:
            return cleaned
        loaded = cleaned.get("loaded_version") or self.instance.version
        self.expected_version = loaded
        if loaded != self.instance.version:
            self.conflict = services.stale_version_error(self.instance, expected_version=loaded)
            # Saving again after reading the differences is a deliberate choice to replace the
            # stored version, so the hidden field moves on to the version now stored.
            self.data = self.data.copy()
            self.data[self.add_prefix("loaded_version")] = str(self.instance.version)
            raise ValidationError(
                "%(who)s Your changes have not been saved: they are still in the form below. "
                "Compare them with the differences shown, then save again to replace the "
                "stored version with yours.",
                code="stale_version",
                params={"who": str(self.conflict)},
            )
        return cleaned


class CorrectionFormSet(forms.BaseInlineFormSet):
    """Corrections are optional: a post that does not carry this inline (an older form, a
    scripted client) means "no new corrections", not a broken form."""

    def __init__(self, data=None, *args, **kwargs):
        prefix = kwargs.get("prefix") or self.get_default_prefix()
        if data is not None and f"{prefix}-TOTAL_FORMS" not in data:
            data = data.copy()
            data[f"{prefix}-TOTAL_FORMS"] = data[f"{prefix}-INITIAL_FORMS"] = "0"
        super().__init__(data, *args, **kwargs)


class CorrectionInline(admin.StackedInline):
    model = Correction
    formset = CorrectionFormSet
    extra = 0
    fields = ["kind", "text", "pinned_top", "created_at"]
    verbose_name = "correction or update readers see"
    verbose_name_plural = "Corrections and updates readers see"


class IntegrityArticleAdminMixin:
    """Revisions, conflict refusal, presence, trash, withdrawal and corrections for ArticleAdmin."""

    form = IntegrityArticleForm
    change_form_template = "admin/articles/article/change_form_integrity.html"
    change_list_template = "admin/articles/article/change_list_integrity.html"
    delete_confirmation_template = "admin/articles/article/trash_confirmation.html"
    correction_inline = CorrectionInline

    # --- the change form -------------------------------------------------------------------

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.pk:
            if obj.first_published_at:
                fieldsets.append(("Saving", {"fields": ["substantive_update", "loaded_version"]}))
            else:
                fieldsets.append((None, {"fields": ["loaded_version"]}))
        return fieldsets

    def get_inlines(self, request, obj):
        inlines = list(super().get_inlines(request, obj))
        if obj is not None and obj.first_published_at and obj.withdrawn_at is None:
            inlines.append(self.correction_inline)
        return inlines

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.withdrawn_at is not None:
            return False  # a withdrawn article is kept as it was, read-only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.withdrawn_at is not None:
            return False
        return super().has_delete_permission(request, obj)

    def _is_draft_revision(self, request, obj):
        return (
            "_save_draft_revision" in request.POST
            and obj.pk is not None
            and obj.first_published_at is not None
        )

    def save_model(self, request, obj, form, change):
        request._integrity_draft = change and self._is_draft_revision(request, obj)
        if request._integrity_draft:
            return  # stored as a pending revision in save_related; the article row is untouched
        request._integrity_old_status = ""
        if change:
            request._integrity_old_status = (
                Article.objects.filter(pk=obj.pk).values_list("status", flat=True).first()
            )
            services.article_version_claim(
                obj, expected_version=form.expected_version, user=request.user
            )
            if form.cleaned_data.get("substantive_update") and obj.is_published:
                obj.revised_at = timezone.now()
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        if getattr(request, "_integrity_draft", False):
            data = self._draft_snapshot(form.instance, form, formsets)
            request._integrity_revision = services.revision_save_draft(
                form.instance, user=request.user, data=data
            )
            for formset in formsets:  # nothing saved; the change message reads these
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
            return
        super().save_related(request, form, formsets, change)
        article = form.instance
        if change:
            services.revision_after_save(
                article,
                user=request.user,
                substantive=bool(form.cleaned_data.get("substantive_update")),
                old_status=getattr(request, "_integrity_old_status", ""),
            )
        else:
            services.revision_create(article, user=request.user)
            audit_record(user=request.user, action=AuditEntry.Action.CREATE, article=article)
        services.edit_session_close(article, user=request.user)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Correction:
            return super().save_formset(request, form, formset, change)
        for correction in formset.save(commit=False):
            is_new = correction.pk is None
            if is_new:
                correction.created_by = request.user
            correction.save()
            services.correction_redate(form.instance, correction)
            audit_record(
                user=request.user,
                action=AuditEntry.Action.CORRECTION,
                article=form.instance,
                detail={"kind": correction.kind, "text": correction.text[:500], "new": is_new},
            )
        for correction in formset.deleted_objects:
            correction.delete()

    def _draft_snapshot(self, obj, form, formsets):
        """The article as the form would leave it, without saving the article or its relations."""
        if obj.lead_image and not obj.lead_image._committed:
            upload = obj.lead_image.file
            obj.lead_image.save(upload.name, upload, save=False)
        tags = list(form.cleaned_data["tags"]) if "tags" in form.cleaned_data else None
        authors = None
        for formset in formsets:
            if formset.model is Byline:
                rows = [
                    f.cleaned_data
                    for f in formset.forms
                    if f.cleaned_data
                    and not f.cleaned_data.get("DELETE")
                    and f.cleaned_data.get("author")
                ]
                rows.sort(key=lambda row: row.get("position") or 0)
                authors = [row["author"] for row in rows]
        return services.article_snapshot(obj, tags=tags, authors=authors)

    def response_change(self, request, obj):
        revision = getattr(request, "_integrity_revision", None)
        if revision is not None:
            self.message_user(
                request,
                f"Saved as draft revision {revision.number}. Readers still see the published "
                "version until the revision is published.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(self._url("revisions", obj.pk))
        return super().response_change(request, obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if obj is not None:
            if request.method == "GET" and self.has_change_permission(request, obj):
                extra_context["others_editing"] = services.edit_session_open(obj, user=request.user)
            extra_context["show_save_draft_revision"] = (
                obj.first_published_at is not None and self.has_change_permission(request, obj)
            )
            extra_context["revisions_url"] = self._url("revisions", obj.pk)
            if obj.withdrawn_at is None and obj.first_published_at is not None:
                if request.user.has_perm("articles.withdraw_article"):
                    extra_context["withdraw_url"] = self._url("withdraw", obj.pk)
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except services.StaleVersionError:
            # Another save won the race after this form was validated: the transaction rolled
            # back, and the form shown again now reports the conflict with the user's text.
            return super().changeform_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        conflict = getattr(context.get("adminform") and context["adminform"].form, "conflict", None)
        if conflict is not None:
            audit_record(
                user=request.user,
                action=AuditEntry.Action.CONFLICT,
                article=obj,
                detail={
                    "loaded_version": conflict.expected_version,
                    "stored_version": conflict.current_version,
                },
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- trash instead of delete -----------------------------------------------------------

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if self.has_delete_permission(request):
            actions["trash_selected"] = self.get_action("trash_selected")
        return actions

    @admin.action(description="Move selected articles to the trash")
    def trash_selected(self, request, queryset):
        self.delete_queryset(request, queryset)

    def get_deleted_objects(self, objs, request):
        # Nothing is deleted: the article goes to the trash with everything attached to it.
        objs = list(objs)
        return [str(obj) for obj in objs], {"articles": len(objs)}, set(), []

    def delete_model(self, request, obj):
        services.article_trash(obj, user=request.user)

    def delete_queryset(self, request, queryset):
        count = 0
        for article in queryset.filter(withdrawn_at__isnull=True):
            services.article_trash(article, user=request.user)
            count += 1
        self.message_user(request, f"{count} article(s) moved to the trash.", messages.SUCCESS)

    def response_delete(self, request, obj_display, obj_id):
        self.message_user(
            request,
            f"“{obj_display}” was moved to the trash. Editors can restore it from there.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:articles_article_changelist"))

    # --- extra pages -----------------------------------------------------------------------

    def _url(self, name, *args):
        return reverse(f"admin:articles_article_{name}", args=args)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("trash/", wrap(self.trash_view), name="articles_article_trash"),
            path(
                "<path:object_id>/revisions/",
                wrap(self.revisions_view),
                name="articles_article_revisions",
            ),
            path(
                "<path:object_id>/revisions/compare/",
                wrap(self.revision_compare_view),
                name="articles_article_revision_compare",
            ),
            path(
                "<path:object_id>/revisions/<int:number>/restore/",
                wrap(self.revision_restore_view),
                name="articles_article_revision_restore",
            ),
            path(
                "<path:object_id>/revisions/<int:number>/publish/",
                wrap(self.revision_publish_view),
                name="articles_article_revision_publish",
            ),
            path(
                "<path:object_id>/withdraw/",
                wrap(self.withdraw_view),
                name="articles_article_withdraw",
            ),
            *super().get_urls(),
        ]

    def _article_or_404(self, request, object_id):
        # Withdrawn articles stay visible here; only trashed ones are hidden until restored.
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such article.")
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def _context(self, request, obj=None, **extra):
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": obj,
            "article": obj,
            **extra,
        }

    def can_publish_revision(self, request, obj):
        """Hook for the editorial workflow: who may put a draft revision in front of readers."""
        return self.has_change_permission(request, obj)

    def revisions_view(self, request, object_id):
        obj = self._article_or_404(request, object_id)
        revisions = obj.revisions.select_related("created_by").order_by("-number")
        context = self._context(
            request,
            obj,
            title=f"Revisions of “{obj}”",
            revisions=revisions,
            can_restore=self.has_change_permission(request, obj),
            can_publish=self.can_publish_revision(request, obj),
            audit_url=reverse("admin:articles_auditentry_changelist")
            + f"?article__id__exact={obj.pk}",
        )
        return TemplateResponse(request, "admin/articles/article/revisions.html", context)

    def revision_compare_view(self, request, object_id):
        obj = self._article_or_404(request, object_id)
        try:
            a, b = int(request.GET["a"]), int(request.GET["b"])
        except (KeyError, ValueError):
            return HttpResponseBadRequest("Choose two revisions to compare.")
        found = {r.number: r for r in obj.revisions.filter(number__in=[a, b])}
        if a not in found or b not in found:
            return HttpResponseBadRequest("No such revision of this article.")
        old, new = sorted([found[a], found[b]], key=lambda r: r.number)
        context = self._context(
            request,
            obj,
            title=f"Revision {old.number} → {new.number} of “{obj}”",
            old=old,
            new=new,
            diff=snapshot_diff_html(old.data, new.data),
        )
        return TemplateResponse(request, "admin/articles/article/revision_compare.html", context)

    def _revision_post(self, request, object_id, number):
        if request.method != "POST":
            return None, HttpResponseBadRequest("Use the button on the revisions page.")
        obj = self._article_or_404(request, object_id)
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        revision = obj.revisions.filter(number=number).first()
        if revision is None:
            raise Http404("No such revision.")
        return revision, None

    def revision_restore_view(self, request, object_id, number):
        revision, error = self._revision_post(request, object_id, number)
        if error:
            return error
        try:
            article = services.revision_restore(revision, user=request.user)
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(self._url("revisions", revision.article_id))
        self.message_user(
            request, f"Revision {number} restored as a new revision.", messages.SUCCESS
        )
        return HttpResponseRedirect(self._url("revisions", article.pk))

    def revision_publish_view(self, request, object_id, number):
        revision, error = self._revision_post(request, object_id, number)
        if error:
            return error
        if not self.can_publish_revision(request, revision.article):
            raise PermissionDenied
        try:
            article = services.revision_publish(
                revision, user=request.user, substantive=bool(request.POST.get("substantive"))
            )
        except ValueError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(self._url("revisions", revision.article_id))
        self.message_user(
            request, f"Draft revision {number} is now what readers see.", messages.SUCCESS
        )
        return HttpResponseRedirect(self._url("revisions", article.pk))

    def withdraw_view(self, request, object_id):
        obj = self._article_or_404(request, object_id)
        if not request.user.has_perm("articles.withdraw_article"):
            raise PermissionDenied
        error, status = "", 200
        if request.method == "POST":
            try:
                services.article_withdraw(obj, user=request.user, reason=request.POST.get("reason"))
            except ValueError as exc:
                error, status = str(exc), 400
            else:
                self.message_user(
                    request,
                    f"“{obj}” is withdrawn: its address now answers 410 Gone with your reason.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:articles_article_change", args=[obj.pk]))
        context = self._context(
            request,
            obj,
            title=f"Withdraw “{obj}”",
            error=error,
            reason=request.POST.get("reason", ""),
        )
        return TemplateResponse(
            request, "admin/articles/article/withdraw.html", context, status=status
        )

    def trash_view(self, request):
        if not self.has_delete_permission(request):
            raise PermissionDenied
        can_empty = request.user.has_perm("articles.empty_trash")
        if request.method == "POST":
            if "restore" in request.POST:
                article = Article.objects.filter(
                    pk=request.POST.get("restore") if request.POST["restore"].isdigit() else None,
                    deleted_at__isnull=False,
                ).first()
                if article is None:
                    self.message_user(request, "That article is not in the trash.", messages.ERROR)
                else:
                    services.article_restore_from_trash(article, user=request.user)
                    self.message_user(
                        request,
                        format_html(
                            "“{}” restored. <a href='{}'>Edit it</a>.",
                            article,
                            reverse("admin:articles_article_change", args=[article.pk]),
                        ),
                        messages.SUCCESS,
                    )
            elif "empty" in request.POST:
                if not can_empty:
                    raise PermissionDenied
                if request.POST.get("confirm") != "yes":
                    self.message_user(
                        request, "Tick the box to confirm emptying the trash.", messages.ERROR
                    )
                else:
                    count = services.trash_empty(user=request.user)
                    self.message_user(
                        request, f"Trash emptied: {count} article(s) deleted.", messages.SUCCESS
                    )
            return HttpResponseRedirect(self._url("trash"))
        trashed = Article.objects.filter(deleted_at__isnull=False).order_by("-deleted_at")
        context = self._context(
            request,
            title="Trash",
            trashed=trashed[:500],
            count=trashed.count(),
            can_empty=can_empty,
        )
        return TemplateResponse(request, "admin/articles/article/trash.html", context)


class MergeAdminMixin:
    """Authors, categories and tags: refuse deletion while articles use them; merge instead."""

    merge_template = "admin/articles/merge.html"
    delete_confirmation_template = "admin/articles/in_use_delete_confirmation.html"

    def _merge_service(self):
        return {
            Author: services.author_merge,
            Category: services.category_merge,
            Tag: services.tag_merge,
        }[self.model]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.has_change_permission(request) and self.has_delete_permission(request):
            actions["merge_selected"] = self.get_action("merge_selected")
        return actions

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        in_use = []
        for obj in objs:
            n = obj.articles.count()
            if n:
                in_use.append(
                    f"{obj} still has {n} article(s): merge it into another "
                    f"{self.model._meta.verbose_name} instead."
                )
        return deleted, counts, perms_needed, (in_use or protected)

    @admin.action(description="Merge selected into another…")
    def merge_selected(self, request, queryset):
        opts = self.model._meta
        choices = self.model.objects.order_by("name")
        error = ""
        if "apply" in request.POST:
            target_id = request.POST.get("target", "")
            target = choices.filter(pk=target_id).first() if target_id.isdigit() else None
            if target is None:
                error = f"Choose the {opts.verbose_name} to merge into."
            else:
                merge = self._merge_service()
                moved = merged = 0
                for source in queryset.exclude(pk=target.pk):
                    moved += merge(source, target, user=request.user)
                    merged += 1
                self.message_user(
                    request,
                    f"Merged {merged} {opts.verbose_name_plural} into “{target}”; "
                    f"{moved} article(s) moved.",
                    messages.SUCCESS,
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": opts,
            "title": f"Merge {opts.verbose_name_plural}",
            "queryset": queryset,
            "choices": choices,
            "error": error,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, self.merge_template, context, status=400 if error else 200)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "user", "action", "article_link", "object_repr", "detail"]
    list_filter = ["action", ("user", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["object_repr", "article__headline", "user__username"]
    list_select_related = ["user", "article"]
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Article", ordering="article")
    def article_link(self, obj):
        if obj.article_id is None:
            return "—"
        return format_html(
            '<a href="?article__id__exact={}">{}</a>', obj.article_id, obj.article.headline
        )
