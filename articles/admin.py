"""The desk: Django's admin, declared; the workflow rules live in `workflow.py`."""

import datetime as dt

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Prefetch, Q
from django.db.models.expressions import RawSQL
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from . import workflow
from .admin_images import ArticleImageAdminMixin, AuthorImageAdminMixin
from .admin_integrity import IntegrityArticleAdminMixin, IntegrityArticleForm, MergeAdminMixin
from .importers import ImportResult, import_file_bytes
from .models import Article, Author, Byline, Category, ShareLink, StateChange, Tag
from .search import SearchQueryError, clean_query, matching_ids_sql
from .workflow import Action


class BylineInline(admin.TabularInline):
    model = Byline
    extra = 1
    autocomplete_fields = ["author"]
    fields = ["position", "author"]
    ordering = ["position", "pk"]
    verbose_name = "byline author"
    verbose_name_plural = "Byline (lowest position first)"


class ArticleAdminForm(IntegrityArticleForm):
    workflow_note = forms.CharField(
        label="Note for the desk",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded with the state change; required when sending back to the reporter.",
    )

    class Meta:
        model = Article
        # The byline inline edits authors, in order; ArticleAdmin.fieldsets picks what shows.
        fields = [
            "headline", "slug", "standfirst", "body_format", "body", "status", "published_at",
            "unpublish_at", "featured", "category", "tags", "dateline", "source", "lead_image",
            "lead_image_alt", "lead_image_caption", "lead_image_credit", "seo_title",
            "seo_description",
        ]  # fmt: skip

    request = None  # set by ArticleAdmin.get_form

    def posted_author_count(self):
        data, count = self.data, 0
        total = data.get("bylines-TOTAL_FORMS", "0")
        for i in range(int(total) if str(total).isdigit() else 0):
            if data.get(f"bylines-{i}-author") and not data.get(f"bylines-{i}-DELETE"):
                count += 1
        return count

    def clean(self):
        cleaned = super().clean()
        user = self.request.user
        action = self.data.get("_action", Action.SAVE)
        instance = self.instance if self.instance.pk else None
        # A forged button is refused outright, whatever the form showed.
        workflow.check_action(action, user=user, article=instance)
        self.workflow_action = action
        if action == Action.SCHEDULE:
            try:
                workflow.validate_schedule(cleaned.get("published_at"))
            except ValidationError as exc:
                self.add_error("published_at", exc)
        if action == Action.SEND_BACK and not cleaned.get("workflow_note", "").strip():
            self.add_error("workflow_note", "Say what the reporter should change.")
        # The checklist guards the step onto the public site. Corrections to a story that is
        # already live (for instance imported wire copy without a category) must stay possible.
        if action in (Action.PUBLISH, Action.SCHEDULE):
            lead_image = cleaned.get("lead_image", self.instance.lead_image)
            checks = workflow.checklist(
                headline=cleaned.get("headline") or "",
                standfirst=cleaned.get("standfirst") or "",
                body=cleaned.get("body") or "",
                author_count=self.posted_author_count(),
                has_category=cleaned.get("category") is not None,
                has_lead_image=bool(lead_image),
                lead_image_alt=cleaned.get("lead_image_alt") or "",
                seo_description=cleaned.get("seo_description") or "",
            )
            failed = workflow.problems(checks)
            if failed:
                raise ValidationError(
                    [ValidationError(f"Cannot publish: {message}") for message in failed]
                )
        return cleaned


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("draft", "Draft"),
            ("review", "In review"),
            ("scheduled", "Scheduled"),
            ("published", "Published"),
            ("unpublished", "Unpublished"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        live = Q(status=Article.Status.PUBLISHED)
        expired = Q(unpublish_at__isnull=False, unpublish_at__lte=now)
        value = self.value()
        if value == "draft":
            return queryset.filter(status=Article.Status.DRAFT, first_published_at__isnull=True)
        if value == "review":
            return queryset.filter(status=Article.Status.REVIEW)
        if value == "scheduled":
            return queryset.filter(live, published_at__gt=now).exclude(expired)
        if value == "published":
            return queryset.filter(live, published_at__lte=now).exclude(expired)
        if value == "unpublished":
            return queryset.filter(
                (live & expired) | Q(status=Article.Status.DRAFT, first_published_at__isnull=False)
            )
        return queryset


class MineFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "mine"

    def lookups(self, request, model_admin):
        return [("1", "Mine")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(
                Q(created_by=request.user) | Q(bylines__author__user=request.user)
            ).distinct()
        return queryset


@admin.register(Article)
class ArticleAdmin(ArticleImageAdminMixin, IntegrityArticleAdminMixin, admin.ModelAdmin):
    form = ArticleAdminForm
    list_display = ["headline", "state_label", "category", "byline", "published_at", "featured"]
    list_display_links = ["headline"]
    list_filter = [
        StateFilter,
        MineFilter,
        "category",
        ("authors", admin.RelatedOnlyFieldListFilter),
        "featured",
    ]
    list_select_related = ["category"]
    list_per_page = 50
    date_hierarchy = "published_at"
    search_fields = ["headline", "standfirst", "body", "authors__name"]
    autocomplete_fields = ["category", "tags"]
    prepopulated_fields = {"slug": ["headline"]}
    inlines = [BylineInline]
    show_full_result_count = False
    actions = ["publish_selected", "unpublish_selected", "feature_selected", "unfeature_selected"]
    change_form_template = "admin/articles/article/change_form.html"
    change_list_template = "admin/articles/article/change_list.html"
    fieldsets = [
        (None, {"fields": ["headline", "slug", "standfirst", "body_format", "body"]}),
        (
            "Publishing",
            {"fields": ["status", "published_at", "unpublish_at", "featured", "workflow_note"]},
        ),
        ("Filing", {"fields": ["category", "tags", "dateline", "source"]}),
        (
            "Lead image",
            {"fields": ["lead_image", "lead_image_alt", "lead_image_caption", "lead_image_credit"]},
        ),
        ("Search engines", {"fields": ["seo_title", "seo_description"], "classes": ["collapse"]}),
    ]

    # --- who sees and changes what -----------------------------------------------------------

    def get_queryset(self, request):
        qs = (
            super()
            .get_queryset(request)
            .prefetch_related(
                Prefetch(
                    "bylines",
                    queryset=Byline.objects.select_related("author").order_by("position", "pk"),
                )
            )
        )
        user = request.user
        if user.has_perm("articles.add_article") and not user.has_perm("articles.edit_any_article"):
            # Reporters work on their own articles.
            own = Article.objects.filter(
                Q(created_by=request.user) | Q(bylines__author__user=request.user)
            ).values("pk")
            qs = qs.filter(pk__in=own)
        return qs

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and (
            obj is None or workflow.can_edit(request.user, obj)
        )

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (
            request.user.has_perm("articles.edit_any_article")
        )

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

    def has_publish_permission(self, request):
        return workflow.can_publish(request.user)

    def can_publish_revision(self, request, obj):
        return workflow.can_publish(request.user) and workflow.can_edit(request.user, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = ["status"]
        if not workflow.can_publish(request.user):
            fields += ["published_at", "unpublish_at", "featured"]
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.request = request
        return form

    # --- change list --------------------------------------------------------------------------

    @admin.display(description="State", ordering="status")
    def state_label(self, obj):
        state = obj.state
        if state == "scheduled":
            when = timezone.localtime(obj.published_at)
            return format_html(
                '<span class="state state--scheduled">Scheduled for {}</span>',
                f"{when:%d %b %Y %H:%M}",
            )
        labels = {"review": "In review"}
        return format_html(
            '<span class="state state--{}">{}</span>', state, labels.get(state, state.capitalize())
        )

    @admin.display(description="Byline")
    def byline(self, obj):
        return ", ".join(author.name for author in obj.byline_authors)

    # --- bulk actions (editors only) --------------------------------------------------------

    @admin.action(description="Publish selected articles", permissions=["publish"])
    def publish_selected(self, request, queryset):
        result = workflow.bulk_publish(queryset, user=request.user)
        self.message_user(request, f"Published {result.changed} article(s).", messages.SUCCESS)
        for skipped in result.skipped:
            self.message_user(request, f"Not published — {skipped}", messages.WARNING)

    @admin.action(description="Unpublish selected articles", permissions=["publish"])
    def unpublish_selected(self, request, queryset):
        result = workflow.bulk_unpublish(queryset, user=request.user)
        self.message_user(request, f"Unpublished {result.changed} article(s).", messages.SUCCESS)

    @admin.action(description="Feature selected articles", permissions=["publish"])
    def feature_selected(self, request, queryset):
        count = workflow.bulk_feature(queryset, user=request.user, featured=True)
        self.message_user(request, f"Featured {count} article(s).", messages.SUCCESS)

    @admin.action(description="Stop featuring selected articles", permissions=["publish"])
    def unfeature_selected(self, request, queryset):
        count = workflow.bulk_feature(queryset, user=request.user, featured=False)
        self.message_user(request, f"{count} article(s) no longer featured.", messages.SUCCESS)

    # --- saving ------------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        action = getattr(form, "workflow_action", Action.SAVE)
        before = "new" if not change else Article.objects.get(pk=obj.pk).state
        if not change:
            obj.created_by = request.user
        workflow.apply_action(obj, action)
        super().save_model(request, obj, form, change)
        form.workflow_transition = (before, form.cleaned_data.get("workflow_note", ""))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        obj = form.instance
        if not change and not obj.bylines.exists():
            profile = getattr(request.user, "author_profile", None)
            if profile is not None:
                Byline.objects.create(article=obj, author=profile, position=0)
        before, note = getattr(form, "workflow_transition", (None, ""))
        if before is not None:
            workflow.record_state_change(
                obj, user=request.user, from_state=before, to_state=obj.state, note=note
            )

    def _after_save(self, request, obj):
        return HttpResponseRedirect(reverse("admin:articles_article_change", args=[obj.pk]))

    def response_add(self, request, obj, post_url_continue=None):
        if "_action" in request.POST:
            self.message_user(request, f"“{obj}” saved — now {obj.state}.", messages.SUCCESS)
            return self._after_save(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if "_action" in request.POST:
            self.message_user(request, f"“{obj}” saved — now {obj.state}.", messages.SUCCESS)
            return self._after_save(request, obj)
        return super().response_change(request, obj)

    # --- the change form's extra panels -------------------------------------------------------

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        user = request.user
        actions = workflow.allowed_actions(user, obj)
        published = obj is not None and obj.status == Article.Status.PUBLISHED
        context.update(
            workflow_actions=[
                (
                    action,
                    "Save changes"
                    if action == Action.SAVE and published
                    else Action.LABELS[action],
                )
                for action in actions
            ],
            checklist=workflow.article_checklist(obj) if obj else None,
            state_changes=(
                StateChange.objects.filter(article=obj).select_related("user")[:50] if obj else []
            ),
            preview_url=reverse("articles:preview", args=[obj.pk]) if obj else None,
            share_url=(
                reverse("admin:articles_article_share", args=[obj.pk])
                if obj and workflow.can_edit(user, obj)
                else None
            ),
            article_state=obj.state if obj else "new",
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- extra pages: share links and wire import ---------------------------------------------

    def get_urls(self):
        return [
            path(
                "<int:pk>/share/",
                self.admin_site.admin_view(self.share_links_view),
                name="articles_article_share",
            ),
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="articles_article_import",
            ),
            *super().get_urls(),
        ]

    def share_links_view(self, request, pk):
        article = get_object_or_404(Article, pk=pk)
        if not (
            self.has_view_permission(request, article) and workflow.can_edit(request.user, article)
        ):
            raise PermissionDenied
        form = ShareLinkForm(request.POST or None)
        if request.method == "POST":
            revoke = request.POST.get("revoke")
            if revoke:
                link = get_object_or_404(ShareLink, pk=revoke, article=article)
                if link.revoked_at is None:
                    link.revoked_at = timezone.now()
                    link.save(update_fields=["revoked_at"])
                self.message_user(
                    request, "Share link revoked: it now answers 404.", messages.SUCCESS
                )
                return HttpResponseRedirect(request.path)
            if form.is_valid():
                link = ShareLink.objects.create(
                    article=article,
                    note=form.cleaned_data["note"],
                    created_by=request.user,
                    expires_at=timezone.now() + dt.timedelta(hours=form.cleaned_data["hours"]),
                )
                self.message_user(
                    request,
                    f"Share link created; it expires {timezone.localtime(link.expires_at):%d %b %Y %H:%M}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(request.path)
        links = ShareLink.objects.filter(article=article).prefetch_related("opens")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Share links for “{article}”",
            "article": article,
            "form": form,
            "links": [
                (link, request.build_absolute_uri(link.get_absolute_url())) for link in links
            ],
            "opts": self.model._meta,
            "now": timezone.now(),
        }
        return TemplateResponse(request, "admin/articles/article/share_links.html", context)

    def import_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = WireImportForm(request.POST or None, request.FILES or None, user=request.user)
        result = None
        if request.method == "POST" and form.is_valid():
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
            level = messages.ERROR if result.failed else messages.SUCCESS
            self.message_user(request, result.summary() + ".", level)
        context = {
            **self.admin_site.each_context(request),
            "title": "Import wire copy",
            "form": form,
            "result": result,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/articles/article/import.html", context)


class ShareLinkForm(forms.Form):
    note = forms.CharField(max_length=200, required=False, help_text="Who it is for.")
    hours = forms.IntegerField(
        label="Valid for (hours)", min_value=1, max_value=24 * 30, initial=48
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        files = [f for f in files if f]
        if not files:
            raise ValidationError("Choose at least one wire-copy file.")
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class WireImportForm(forms.Form):
    MAX_BYTES = 1024 * 1024

    files = MultipleFileField(label="Wire-copy files")
    status = forms.ChoiceField(
        choices=[(Article.Status.DRAFT, "Draft"), (Article.Status.PUBLISHED, "Published")],
        initial=Article.Status.DRAFT,
        help_text="Status of newly created articles.",
    )
    dry_run = forms.BooleanField(required=False, label="Dry run (check only, save nothing)")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_status(self):
        status = self.cleaned_data["status"]
        if status == Article.Status.PUBLISHED and not workflow.can_publish(self.user):
            raise ValidationError("Only editors may import straight to published; choose Draft.")
        return status


class _CountedAdmin(admin.ModelAdmin):
    """Change lists that show how many articles each row has, in one query."""

    search_fields = ["name"]
    ordering = ["name"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).annotate(article_count=Count("articles", distinct=True))
        )

    @admin.display(description="Articles", ordering="article_count")
    def articles(self, obj):
        return obj.article_count


@admin.register(Author)
class AuthorAdmin(AuthorImageAdminMixin, MergeAdminMixin, _CountedAdmin):
    list_display = ["name", "slug", "user", "articles"]
    list_select_related = ["user"]
    search_fields = ["name", "bio"]
    prepopulated_fields = {"slug": ["name"]}
    autocomplete_fields = ["user"]
    fields = ["name", "slug", "bio", "photo", "photo_alt", "user"]


@admin.register(Category)
class CategoryAdmin(MergeAdminMixin, _CountedAdmin):
    list_display = ["name", "slug", "order", "articles"]
    list_editable = ["order"]
    ordering = ["order", "name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Tag)
class TagAdmin(MergeAdminMixin, _CountedAdmin):
    list_display = ["name", "slug", "articles"]
    prepopulated_fields = {"slug": ["name"]}
