"""The article admin: the change list (state, filters, bulk actions), the change form with its
workflow buttons, and the one save path — `save_related` hands everything the form holds to
`services.article_save` (or `services.revision_save_draft`), which checks, writes, keeps the
revision, audits and invalidates. The extra pages are view classes in `views.py`."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.validators import slug_re
from django.db import models
from django.db.models import Exists, Max, OuterRef, Prefetch, Q
from django.db.models.expressions import RawSQL
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.functional import cached_property
from django.utils.html import format_html

from .. import services, workflow
from ..diffs import snapshot_diff_html
from ..models import (
    Article,
    AuditEntry,
    Autosave,
    Byline,
    Category,
    Correction,
    Revision,
    StateChange,
)
from ..paging import IdFirstPaginator
from ..revisions import (
    StaleVersionError,
    article_snapshot,
    revision_for_form,
    stale_version_error,
)
from ..search import SearchQueryError, clean_query, matching_ids_sql
from ..workflow import Action
from . import views
from .base import DeskAdminMixin, DeskAutocompleteSelect, desk_id
from .forms import ArticleAdminForm, CorrectionFormSet, byline_from
from .images import ArticleImageAdminMixin

State = Article.State
DESK_DATE = "j M Y H:i"  # one date format in every column


def desk_date(value) -> str:
    return date_format(timezone.localtime(value), DESK_DATE)


PLACEHOLDERS = {"author": "Choose an author", "category": "Choose a section"}


def _named(formfield, name):
    """Give a desk widget an accessible name where the admin renders none (the tabular inline's
    cells, select2's empty combobox), so screen readers can tell the controls apart."""
    if formfield is None:
        return formfield
    widget = getattr(formfield.widget, "widget", formfield.widget)
    label = str(formfield.label or name)
    if name in PLACEHOLDERS:
        widget.attrs.setdefault("data-placeholder", PLACEHOLDERS[name])
    for part, subwidget in zip(("date", "time"), getattr(widget, "widgets", []), strict=False):
        subwidget.attrs.setdefault("aria-label", f"{label}: {part}")  # the split date and time
    if not hasattr(widget, "widgets"):
        widget.attrs.setdefault("aria-label", label)
    return formfield


class BylineFormSet(forms.BaseInlineFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].widget.attrs["aria-label"] = "Remove this author"


class RowAutocomplete(DeskAutocompleteSelect):
    """The byline row's author picker. Django's widget reads the selected author's label with a
    query per row; the row already holds it (its rows are read with their authors), so the
    label comes from there unless the form now carries another author."""

    row_choice = None  # (pk, label), set by BylineForm

    def optgroups(self, name, value, attr=None):
        chosen = {str(v) for v in value if v not in ("", None)}
        if self.row_choice is None or chosen != {str(self.row_choice[0])}:
            return super().optgroups(name, value, attr)
        options = [] if self.is_required else [self.create_option(name, "", "", False, 0)]
        pk, label = self.row_choice
        options.append(self.create_option(name, pk, label, chosen, len(options)))
        return [(None, options, 0)]


class BylineForm(forms.ModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        widget = getattr(self.fields["author"].widget, "widget", None)
        if self.instance.author_id and isinstance(widget, RowAutocomplete):
            widget.row_choice = (self.instance.author_id, str(self.instance.author))


class BylineInline(admin.TabularInline):
    model = Byline
    form = BylineForm
    formset = BylineFormSet
    extra = 1
    autocomplete_fields = ["author"]
    fields = ["position", "author"]
    ordering = ["position", "pk"]
    verbose_name = "byline author"
    verbose_name_plural = "Byline (lowest position first)"

    def get_queryset(self, request):
        # Each row is labelled "<author> on <article>": one query for all rows, not two each.
        return super().get_queryset(request).select_related("author", "article")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "author":
            kwargs["widget"] = RowAutocomplete(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        return _named(super().formfield_for_dbfield(db_field, request, **kwargs), db_field.name)


class CorrectionInline(admin.StackedInline):
    model = Correction
    formset = CorrectionFormSet
    extra = 0
    fields = ["kind", "text", "pinned_top", "created_at"]
    verbose_name = "correction or update readers see"
    verbose_name_plural = "Corrections and updates readers see"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("article")  # each row's label


class StateFilter(admin.SimpleListFilter):
    """Filters by `Article.State`: the same conditions readers' lists use."""

    title = "state"
    parameter_name = "state"

    ATTENTION = "attention"
    EMBARGOED = "embargoed"

    def lookups(self, request, model_admin):
        states = [(state.value, state.label) for state in State if state != State.TRASHED]
        return [
            (self.ATTENTION, "Needs attention (drafts and in review)"),
            *states,
            (self.EMBARGOED, "Embargoed (held until its embargo ends)"),
        ]

    def queryset(self, request, queryset):
        if self.value() == self.ATTENTION:
            return queryset.in_state(State.DRAFT, State.REVIEW)
        if self.value() == self.EMBARGOED:
            return queryset.embargoed()
        if self.value() in State.values:
            return queryset.in_state(self.value())
        return queryset


class BylineAuthorFilter(admin.RelatedOnlyFieldListFilter):
    """Authors on the byline of an article this user sees in the desk: one EXISTS per author,
    each stopping at the author's first such article (the stock filter joins every byline of
    every article and takes the DISTINCT author ids)."""

    def field_choices(self, field, request, model_admin):
        on_desk = workflow.desk_articles(request.user).filter(bylines__author=OuterRef("pk"))
        ordering = self.field_admin_ordering(field, request, model_admin) or ["name"]
        # (id, name) pairs straight from the rows: 400 authors need no model instances.
        authors = field.related_model._default_manager.filter(Exists(on_desk)).order_by(*ordering)
        return list(authors.values_list("pk", "name"))


DESK_COUNT_LIMIT = 1000  # rows the change list counts at most (20 pages of 50)


class CappedCount(int):
    """The change list's count when more rows match than were counted: the number counted, shown
    as "1000+" ("1000+ articles", "Select all 1000+ articles")."""

    def __str__(self):
        return f"{int(self)}+"


class DeskPaginator(IdFirstPaginator):
    """The readers' paginator (`paging.py`: capped count, ids first, then the page's rows) with
    the desk's limit, and a count the admin's own templates print as "1000+" past it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, count_limit=DESK_COUNT_LIMIT, **kwargs)

    @cached_property
    def count(self):
        found = super().count
        return found if self.counted else CappedCount(found)


class MineFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return [("1", "Mine")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.owned_by(request.user)
        return queryset


@admin.register(Article)
class ArticleAdmin(DeskAdminMixin, ArticleImageAdminMixin, admin.ModelAdmin):
    form = ArticleAdminForm
    list_display = ["headline", "state_label", "category", "byline", "words", "published",
                    "updated", "featured"]  # fmt: skip
    list_display_links = ["headline"]
    list_filter = [
        StateFilter,
        MineFilter,
        "category",
        ("authors", BylineAuthorFilter),
        "featured",
    ]
    list_select_related = ["category"]
    list_per_page = 50
    ordering = ["-updated_at", "-pk"]  # newest activity first
    date_hierarchy = "published_at"
    search_fields = ["headline", "standfirst", "body", "authors__name"]
    autocomplete_fields = ["category", "tags"]
    prepopulated_fields = {"slug": ["headline"]}
    inlines = [BylineInline]
    show_full_result_count = False
    save_on_top = True  # the workflow buttons above the form as well as below it
    actions = ["publish_selected", "unpublish_selected", "feature_selected", "unfeature_selected",
               "trash_selected"]  # fmt: skip
    change_form_template = "admin/articles/article/change_form.html"

    class Media:
        js = ["articles/desk.js"]  # the edit form's live counters

    change_list_template = "admin/articles/article/change_list.html"
    delete_confirmation_template = "admin/articles/article/trash_confirmation.html"
    fieldsets = [
        (None, {"fields": ["headline", "slug", "standfirst", "body_format", "body"]}),
        (
            "Publishing",
            {
                "fields": [
                    "status",
                    "published_at",
                    "unpublish_at",
                    "embargo_until",
                    "featured",
                    "workflow_note",
                ]
            },
        ),
        ("Filing", {"fields": ["category", "tags", "dateline", "source"]}),
        (
            "Lead image",
            {
                "fields": [
                    "lead_image",
                    "lead_image_alt",
                    "lead_image_caption",
                    "lead_image_credit",
                    "pending_lead_image",
                ]
            },  # fmt: skip
        ),
        ("Search engines", {"fields": ["seo_title", "seo_description"], "classes": ["collapse"]}),
    ]

    # --- who sees and changes what: asked of `workflow` -----------------------------------

    def get_queryset(self, request):
        # ModelAdmin's own queryset, on the desk's queryset class (its date hierarchy).
        qs = Article.desk_list.all()
        if ordering := self.get_ordering(request):
            qs = qs.order_by(*ordering)
        qs = qs.prefetch_related(
            Prefetch(
                "bylines",
                queryset=Byline.objects.select_related("author").order_by("position", "pk"),
            )
        )
        return workflow.desk_articles(request.user, qs)

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        return DeskPaginator(
            queryset,
            per_page,
            orphans=orphans,
            allow_empty_first_page=allow_empty_first_page,
            rows=self._list_rows,
        )

    def _list_rows(self, ids):
        """One page of the change list by id: what its columns show, without the bodies."""
        return (
            Article.objects.filter(pk__in=ids)
            .defer("body", "body_html")
            .select_related(*self.list_select_related)
            .prefetch_related(
                Prefetch(
                    "bylines",
                    queryset=Byline.objects.select_related("author").order_by("position", "pk"),
                )
            )
        )

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and (
            obj is None or workflow.can_view(request.user, obj)
        )

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        if obj is None or not allowed or workflow.can_edit(request.user, obj):
            return allowed
        # A save posted after the story moved on (an editor published it, it was submitted in
        # another tab) is taken in, so that the form comes back with the writer's text and the
        # reason; the form refuses it (ArticleAdminForm.clean) and nothing is saved.
        return getattr(request, "posting_change_form", False) and workflow.can_view(
            request.user, obj
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and workflow.can_delete(
            request.user, obj
        )

    def has_publish_permission(self, request):
        return workflow.can_publish(request.user)

    def get_readonly_fields(self, request, obj=None):
        fields = ["status"]
        if not workflow.can_publish(request.user):
            fields += ["published_at", "unpublish_at", "embargo_until", "featured"]
        return fields

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        named = db_field.name in PLACEHOLDERS or isinstance(db_field, models.DateTimeField)
        return _named(formfield, db_field.name) if named else formfield

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.user = request.user
        form.loaded_revision = self._revision_to_load(request, obj)
        if obj is not None and request.method == "GET" and "restore_autosave" in request.GET:
            form.restored = Autosave.objects.filter(article=obj, user=request.user).first()
        lead_image = form.base_fields.get("lead_image")
        if obj is not None and obj.lead_image and lead_image is not None:
            # The picture beside the file input; the class and its fields are this request's own.
            lead_image.help_text = format_html(
                '<span class="desk-lead-thumb">{}<span>{}</span></span>',
                self.thumbnail(obj),
                lead_image.help_text,
            )
        return form

    def _revision_to_load(self, request, obj):
        """`?revision=N` on the change form loads revision N into it for review."""
        number = desk_id(request.GET.get("revision"))
        if obj is None or number is None or request.method != "GET":
            return None
        revision = obj.revisions.filter(number=number).first()
        return revision_for_form(revision, obj) if revision else None

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None and obj.pk and not self.has_change_permission(request, obj):
            # Read-only: the form's own inputs would read "None"; show the last note instead.
            return [
                (name, {**options, "fields": [
                    "latest_workflow_note" if f == "workflow_note" else f
                    for f in options["fields"] if f != "pending_lead_image"
                ]})
                for name, options in fieldsets
            ]  # fmt: skip
        if obj is not None and obj.pk:
            if obj.was_published:
                fieldsets.append(
                    (
                        "Saving",
                        {"fields": ["substantive_update", "loaded_version", "from_revision"]},
                    )
                )
            else:
                fieldsets.append((None, {"fields": ["loaded_version", "from_revision"]}))
        return fieldsets

    @admin.display(description="Latest note for the desk")
    def latest_workflow_note(self, obj):
        change = obj.state_changes.exclude(note="").order_by("-created_at", "-pk").first()
        return change.note if change else "—"

    def get_inlines(self, request, obj):
        inlines = list(super().get_inlines(request, obj))
        if obj is not None and obj.was_published and obj.state != State.WITHDRAWN:
            inlines.append(CorrectionInline)
        return inlines

    def get_search_results(self, request, queryset, search_term):
        """Full-text search (FTS5 / PostgreSQL) over headline, standfirst and body, plus author
        names: fast at any size, and no DISTINCT over a join."""
        term = search_term.strip()
        if not term:
            return queryset, False
        by_author = Byline.objects.filter(author__name__icontains=term[:200]).values("article_id")
        try:
            sql, params = matching_ids_sql(clean_query(term))
        except SearchQueryError:
            return queryset.filter(pk__in=by_author), False
        return queryset.filter(Q(pk__in=RawSQL(sql, params)) | Q(pk__in=by_author)), False

    # --- change list --------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        links = {
            "trash_url": views.desk_url("trash") if views.TrashView.allowed(request.user) else None,
            "audit_url": views.audit_trail_url(self, request),
        }
        return super().changelist_view(request, {**links, **(extra_context or {})})

    def view_on_site(self, obj):
        """Only while readers can see the article: a draft's address answers 404. A form shown
        again with errors holds what was posted, which may be no address at all (an empty or
        malformed slug): then there is no link."""
        return obj.get_absolute_url() if obj.is_published and slug_re.match(obj.slug) else None

    @admin.display(description="State", ordering="status")
    def state_label(self, obj):
        state = obj.state
        label = state.label
        if state == State.SCHEDULED and obj.published_at:
            label = f"Scheduled for {desk_date(obj.published_at)}"
        if obj.is_embargoed:
            label = embargo_label(obj, state)
        return format_html('<span class="state state--{}">{}</span>', state.value, label)

    @admin.display(description="Words", ordering="word_count")
    def words(self, obj):
        return obj.word_count

    @admin.display(description="Published", ordering="published_at")
    def published(self, obj):
        return desk_date(obj.published_at) if obj.published_at else "—"

    @admin.display(description="Updated", ordering="updated_at")
    def updated(self, obj):
        return desk_date(obj.updated_at)

    @admin.display(description="Byline")
    def byline(self, obj):
        return ", ".join(author.name for author in obj.byline_authors)

    # --- bulk actions: each article through services.article_save ---------------------------

    def _report(self, request, result, done):
        self.message_user(request, f"{done} {result.changed} article(s).", messages.SUCCESS)
        for skipped in result.skipped:
            self.message_user(request, f"Not changed — {skipped}", messages.WARNING)

    @admin.action(description="Publish selected articles", permissions=["publish"])
    def publish_selected(self, request, queryset):
        self._report(request, services.articles_publish(queryset, user=request.user), "Published")

    @admin.action(description="Unpublish selected articles", permissions=["publish"])
    def unpublish_selected(self, request, queryset):
        result = services.articles_unpublish(queryset, user=request.user)
        self._report(request, result, "Unpublished")

    @admin.action(description="Feature selected articles", permissions=["publish"])
    def feature_selected(self, request, queryset):
        result = services.articles_feature(queryset, user=request.user, featured=True)
        self._report(request, result, "Featured")

    @admin.action(description="Stop featuring selected articles", permissions=["publish"])
    def unfeature_selected(self, request, queryset):
        result = services.articles_feature(queryset, user=request.user, featured=False)
        self._report(request, result, "No longer featured:")

    @admin.action(description="Move selected articles to the trash", permissions=["delete"])
    def trash_selected(self, request, queryset):
        self.delete_queryset(request, queryset)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    # --- saving: the one save path ------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        """Nothing here: the article, its byline, topics and corrections are written together
        by `services.article_save` in `save_related`, once the inlines are valid."""

    def save_related(self, request, form, formsets, change):
        article = form.instance
        for formset in formsets:  # the change message reads these; the services do the saving
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if change and form.is_draft_revision:
            data = self._draft_snapshot(article, form, formsets)
            services.revision_save_draft(
                article, user=request.user, data=data, base_version=form.expected_version
            )
            services.autosave_discard(article, user=request.user)
            return
        lifted = {"embargo": "lifted"} if change and form.embargo_lifted else None
        services.article_save(
            article,
            user=request.user,
            action=form.workflow_action,
            audit_action=AuditEntry.Action.STATE if lifted else None,
            audit_detail=lifted,
            expected_version=form.expected_version if change else None,
            authors=byline_from(formsets),
            tags=list(form.cleaned_data["tags"]) if "tags" in form.cleaned_data else None,
            substantive=bool(form.cleaned_data.get("substantive_update")),
            note=form.cleaned_data.get("workflow_note", ""),
            from_revision=form.cleaned_data.get("from_revision") if change else None,
        )
        for formset in formsets:
            if formset.model is Correction:
                for correction in formset.save(commit=False):
                    services.correction_save(correction, user=request.user)
                for correction in formset.deleted_objects:
                    services.correction_delete(correction, user=request.user)
        services.autosave_discard(article, user=request.user)
        services.edit_session_close(article, user=request.user)
        form.forget_kept_upload()

    def _draft_snapshot(self, obj, form, formsets):
        """The article as the form would leave it, without saving the article or its relations."""
        if obj.lead_image and not obj.lead_image._committed:
            upload = obj.lead_image.file
            obj.lead_image.save(upload.name, upload, save=False)
        tags = list(form.cleaned_data["tags"]) if "tags" in form.cleaned_data else None
        return article_snapshot(obj, tags=tags, authors=byline_from(formsets))

    def delete_model(self, request, obj):
        services.article_trash(obj, user=request.user)

    def delete_queryset(self, request, queryset):
        count = 0
        for article in queryset:
            if workflow.can_delete(request.user, article):
                services.article_trash(article, user=request.user)
                count += 1
        self.message_user(request, f"{count} article(s) moved to the trash.", messages.SUCCESS)

    def get_deleted_objects(self, objs, request):
        # Nothing is deleted: the article goes to the trash with everything attached to it.
        objs = list(objs)
        return [str(obj) for obj in objs], {"articles": len(objs)}, set(), []

    def response_delete(self, request, obj_display, obj_id):
        self.message_user(
            request,
            f"“{obj_display}” was moved to the trash. Editors can restore it from there.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:articles_article_changelist"))

    def _saved(self, request, obj):
        if "_save_draft_revision" in request.POST and obj.was_published:
            revision = obj.revisions.filter(pending=True).order_by("-number").first()
            self.message_user(
                request,
                f"Saved as draft revision {revision.number}. Readers still see the published "
                "version until the revision is published.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(views.desk_url("revisions", obj.pk))
        self.message_user(
            request, f"“{obj}” saved — now {obj.state.label.lower()}.", messages.SUCCESS
        )
        return HttpResponseRedirect(views.desk_url("change", obj.pk))

    def response_add(self, request, obj, post_url_continue=None):
        if "_action" in request.POST:
            return self._saved(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if "_action" in request.POST or "_save_draft_revision" in request.POST:
            return self._saved(request, obj)
        return super().response_change(request, obj)

    # --- the change form ----------------------------------------------------------------------

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and request.POST.get("_action") == Action.RECALL and object_id:
            return self._recall(request, object_id)
        if request.method == "POST" and "_lift_embargo" in request.POST and object_id:
            return self._lift_embargo(request, object_id)
        request.posting_change_form = request.method == "POST" and object_id is not None
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (StaleVersionError, PermissionDenied):
            # Another save or a change of state won the race after this form was validated: the
            # transaction rolled back, and the form shown again reports it with the user's text.
            if not request.posting_change_form:
                raise
            return super().changeform_view(request, object_id, form_url, extra_context)

    def _recall(self, request, object_id):
        """Recall from review: the reporter's form is read-only while in review, so the button
        posts nothing else to save."""
        obj = self.get_object(request, object_id)
        if obj is None or not self.has_view_permission(request, obj):
            raise PermissionDenied
        services.article_save(obj, user=request.user, action=Action.RECALL)
        return self._saved(request, obj)

    def _lift_embargo(self, request, object_id):
        """ "Lift embargo": its own small form beside the state, so nothing typed is posted."""
        obj = self.get_object(request, object_id)
        if obj is None or not workflow.can_lift_embargo(request.user, obj):
            raise PermissionDenied
        services.article_lift_embargo(obj, user=request.user)
        self.message_user(
            request, f"Embargo lifted on “{obj}” — now {obj.state.label.lower()}.", messages.SUCCESS
        )
        return HttpResponseRedirect(views.desk_url("change", obj.pk))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        user = request.user
        form = context.get("adminform") and context["adminform"].form
        if form and request.method == "POST":
            form.keep_upload()  # shown again with errors: the chosen lead image is kept
        if getattr(form, "conflict", None) is not None:
            audit = {"loaded_version": form.conflict.expected_version,
                     "stored_version": form.conflict.current_version}  # fmt: skip
            services.audit_record(
                user=user, action=AuditEntry.Action.CONFLICT, article=obj, detail=audit
            )
        going = obj is not None and obj.state in (State.SCHEDULED, State.PUBLISHED)
        editable = obj is not None and workflow.can_edit(user, obj)
        context.update(
            workflow_actions=[
                (
                    action,
                    "Save changes" if action == Action.SAVE and going else Action.LABELS[action],
                )
                for action in workflow.allowed_actions(user, obj)
            ],
            checklist=workflow.article_checklist(obj) if obj else None,
            state_changes=(
                StateChange.objects.filter(article=obj).select_related("user")[:50] if obj else []
            ),
            preview_url=(
                reverse("articles:preview", args=[obj.pk])
                if obj and workflow.can_preview(user, obj)
                else None
            ),
            share_url=views.desk_url("share", obj.pk)
            if obj and workflow.can_share(user, obj)
            else None,
            article_state=(
                embargo_label(obj, obj.state)
                if obj and obj.is_embargoed
                else obj.state.label
                if obj
                else "New"
            ),  # fmt: skip
            can_lift_embargo=workflow.can_lift_embargo(user, obj),
            article_state_value=obj.state.value if obj else "new",
            sent_back=workflow.sent_back([obj]).first() if obj else None,
        )
        if not Category.objects.exists():  # a fresh install: the checklist needs a section
            context.update(no_sections=True, can_add_section=user.has_perm("articles.add_category"))
        if obj is not None:
            if request.method == "GET" and editable:
                context["others_editing"] = services.edit_session_open(obj, user=user)
            context["refused"] = getattr(form, "refused", False)
            context["show_save_draft_revision"] = obj.was_published and editable
            context["loaded_revision"] = getattr(form, "loaded_revision", None)
            context["pending_revisions"] = self._pending_revisions(obj)
            context["revisions_url"] = views.desk_url("revisions", obj.pk)
            if workflow.can_withdraw(user, obj):
                context["withdraw_url"] = views.desk_url("withdraw", obj.pk)
        if editable or (obj is None and workflow.can_edit(user, None)):
            context["autosave"] = self._autosave_context(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _pending_revisions(self, obj):
        """Draft revisions waiting to be published, each with a link comparing it with the live
        text and one loading it into the form."""
        pending = list(obj.revisions.filter(pending=True).select_related("created_by"))
        if not pending:
            return []
        live = obj.revisions.filter(pending=False).order_by("-number").first()
        compare = views.desk_url("revision_compare", obj.pk)
        return [
            {
                "revision": revision,
                "compare_url": f"{compare}?a={live.number}&b={revision.number}" if live else "",
                "load_url": f"{views.desk_url('change', obj.pk)}?revision={revision.number}",
            }
            for revision in pending
        ]

    def _autosave_context(self, request, obj):
        """What autosave.js needs, and the offer to restore this user's autosave of `obj` when
        it differs from the article as stored. A new article is autosaved in the browser only."""
        if obj is None:
            return {"key": "new"}
        user = request.user
        context = {
            "key": obj.pk,
            "url": views.desk_url("autosave", obj.pk),
            "discard_url": views.desk_url("autosave_discard", obj.pk),
            # Local copies typed before this user's own last save are saved; autosave.js drops them.
            "own_version": Revision.objects.filter(
                article=obj, created_by=user, pending=False
            ).aggregate(n=Max("article_version"))["n"]
            or 0,
        }
        autosave = Autosave.objects.filter(article=obj, user=user).first()
        if autosave is None:
            return context
        local = timezone.localtime(autosave.saved_at)
        today = local.date() == timezone.localdate()
        context.update(saved_at=autosave.saved_at,
                       when=f"{local:%H:%M}" if today else f"{local:%-d %b %Y, %H:%M}")  # fmt: skip
        if request.method != "GET":
            return context  # the form shows what was just posted
        if "restore_autosave" in request.GET:
            context["restored"] = autosave
            return context
        current = {name: _text(getattr(obj, name, "")) for name in autosave.data}
        typed = {name: _text(value) for name, value in autosave.data.items()}
        if current == typed:
            return context
        context["offer"] = autosave
        context["diff"] = snapshot_diff_html(current, typed)
        if autosave.base_version != obj.version:
            changed = stale_version_error(obj, expected_version=autosave.base_version)
            context["changed_by"] = changed.changed_by
        return context

    # --- extra pages: view classes in views.py -------------------------------------------------

    def get_urls(self):
        def page(view_class, route, name):
            view = view_class.as_view(model_admin=self)
            return path(route, self.admin_site.admin_view(view), name=f"articles_article_{name}")

        return [
            page(views.TrashView, "trash/", "trash"),
            page(views.WireImportView, "import/", "import"),
            page(views.RevisionsView, "<path:object_id>/revisions/", "revisions"),
            page(
                views.RevisionCompareView, "<path:object_id>/revisions/compare/", "revision_compare"
            ),  # fmt: skip
            page(
                views.RevisionRestoreView,
                "<path:object_id>/revisions/<int:number>/restore/",
                "revision_restore",
            ),  # fmt: skip
            page(
                views.RevisionPublishView,
                "<path:object_id>/revisions/<int:number>/publish/",
                "revision_publish",
            ),  # fmt: skip
            page(views.WithdrawView, "<path:object_id>/withdraw/", "withdraw"),
            page(views.ShareLinksView, "<path:object_id>/share/", "share"),
            page(views.AutosaveView, "<path:object_id>/autosave/", "autosave"),
            page(
                views.AutosaveDiscardView, "<path:object_id>/autosave/discard/", "autosave_discard"
            ),  # fmt: skip
            *super().get_urls(),
        ]


def embargo_label(obj, state) -> str:
    """The desk's words for a story under embargo: "Embargoed until …" (its state otherwise)."""
    until = f"mbargoed until {desk_date(obj.embargo_until)}"
    if state == State.SCHEDULED:
        later = obj.published_at and obj.published_at > obj.embargo_until
        return f"E{until}" + (f", scheduled for {desk_date(obj.published_at)}" if later else "")
    return f"{state.label} · e{until}"


def _text(value) -> str:
    """A text field as compared for autosave: browsers post line ends as CRLF; Django strips."""
    return str(value or "").replace("\r\n", "\n").strip()
