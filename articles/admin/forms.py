"""The desk's forms: the article change form (workflow action, version loaded, checklist) and
the forms of the extra pages (share links, wire import)."""

import copy
import posixpath
import secrets

from django import forms
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.html import format_html

from .. import services, workflow
from ..models import Article, Byline, count_words
from ..revisions import MERGED_FIELDS, merge_snapshots, set_lead_image, stale_version_error
from ..workflow import Action

HEADLINE_LIMIT, SEARCH_CUT = 70, 60
WORDS_PER_MINUTE = 230


def reading_minutes(words: int) -> int:
    return max(1, round(words / WORDS_PER_MINUTE))


def headline_count(text: str):
    return format_html(
        '<output class="desk-count" data-count="chars" data-for="id_headline" data-cut="{}"'
        ' aria-live="off"><span class="desk-count-n">{}</span> / {} — search engines cut'
        " titles near {}</output>",
        SEARCH_CUT, len(text), HEADLINE_LIMIT, SEARCH_CUT,
    )  # fmt: skip


def body_count(text: str):
    words = count_words(text)
    return format_html(
        '<output class="desk-count" data-count="words" data-for="id_body" data-wpm="{}"'
        ' aria-live="off"><span class="desk-count-n">{}</span> words · about'
        ' <span class="desk-count-min">{}</span> min read</output>',
        WORDS_PER_MINUTE, words, reading_minutes(words),
    )  # fmt: skip


PENDING_SALT = "newsdesk.admin.pending-lead-image"
PENDING_MAX_AGE = 24 * 60 * 60


class ArticleAdminForm(forms.ModelForm):
    """The change form. It carries the version it was loaded at (a save based on an older one is
    refused with the differences, the editor's text kept in the form), the workflow button that
    was pressed, and checks that button and the pre-publish checklist before anything is saved.
    `services.article_save` checks the button again inside the transaction."""

    loaded_version = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    from_revision = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    substantive_update = forms.BooleanField(
        label="Substantive update",
        required=False,
        help_text="Tick when readers should be told the story changed (“Updated …”). "
        "Leave it clear for silent fixes such as typos.",
    )
    # A lead image chosen in a form that came back with errors: browsers cannot refill a file
    # input, so it waits in the storage under pending/ and this signed token names it.
    pending_lead_image = forms.CharField(required=False, widget=forms.HiddenInput)
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
            "unpublish_at", "embargo_until", "featured", "category", "tags", "dateline", "source", "lead_image",
            "lead_image_alt", "lead_image_caption", "lead_image_credit", "seo_title",
            "seo_description",
        ]  # fmt: skip

    user = None  # set by ArticleAdmin.get_form
    loaded_revision = None  # a revisions.LoadedRevision to review, set by ArticleAdmin.get_form
    restored = None  # an Autosave the form starts from (ArticleAdmin.get_form, on "Restore")
    conflict = None
    refused = False  # the user may no longer change this article: nothing can be saved
    embargo_lifted = False  # an editor cleared (or brought forward to now) an embargo in force

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "loaded_version" in self.fields:
            self.fields["loaded_version"].initial = self.instance.version
        if self.loaded_revision is not None and not self.is_bound:
            self.initial.update(self.loaded_revision.form_initial())
            set_lead_image(self.instance, self.loaded_revision.data.get("lead_image") or "")
        self.expected_version = self.instance.version
        self.workflow_action = Action.SAVE
        if self.restored is not None and not self.is_bound:
            # The autosaved text, and the version it was typed over: if the article changed
            # since, saving shows the differences (`_clean_version`) instead of overwriting.
            self.initial.update({k: v for k, v in self.restored.data.items() if k in self.fields})
            self.initial["loaded_version"] = self.restored.base_version
        self._add_counters()

    def _add_counters(self):
        """Headline length and body words under the fields, counted from what the form holds;
        desk.js keeps them live as the editor types."""
        for name, count in (("headline", headline_count), ("body", body_count)):
            if name in self.fields:
                bound = self[name]
                bound.help_text = self.fields[name].help_text = count(bound.value() or "")

    def clean_lead_image(self):
        image = self.cleaned_data.get("lead_image")
        chose_another = self.add_prefix("lead_image") in self.files
        if image is not False and not chose_another:  # neither cleared nor replaced
            kept = self._kept_upload()
            if kept is not None:
                return kept
        return image

    def _kept_upload(self) -> File | None:
        token = self.data.get(self.add_prefix("pending_lead_image"))
        try:
            name = signing.loads(token or "", salt=PENDING_SALT, max_age=PENDING_MAX_AGE)
        except signing.BadSignature:
            return None
        storage = Article._meta.get_field("lead_image").storage
        if not str(name).startswith("pending/") or not storage.exists(name):
            return None
        kept = File(storage.open(name), name=posixpath.basename(name))
        kept.kept_as = name
        return kept

    def keep_upload(self) -> None:
        """The form is shown again with errors: keep a valid new lead image for the next submit
        and say so beside the file input."""
        image = getattr(self, "cleaned_data", {}).get("lead_image")
        if not image or not hasattr(image, "read") or getattr(image, "_committed", False):
            return
        name = getattr(image, "kept_as", None)
        if name is None:
            storage = Article._meta.get_field("lead_image").storage
            filename = posixpath.basename(image.name or "image")
            image.seek(0)
            name = storage.save(f"pending/{secrets.token_hex(8)}/{filename}", image)
        self.data = self.data.copy()
        self.data[self.add_prefix("pending_lead_image")] = signing.dumps(name, salt=PENDING_SALT)
        kept = format_html(
            '<strong class="desk-kept">Kept: {} (choose another to replace)</strong><br>{}',
            posixpath.basename(name),
            self.fields["lead_image"].help_text,
        )
        self.fields["lead_image"].help_text = self["lead_image"].help_text = kept

    def forget_kept_upload(self) -> None:
        """After a successful save: the kept image now lives on the article; drop the waiting
        copy once the save has committed."""
        image = getattr(self, "cleaned_data", {}).get("lead_image")
        name = getattr(image, "kept_as", None)
        if name:
            storage = Article._meta.get_field("lead_image").storage
            image.close()
            transaction.on_commit(lambda: storage.delete(name))

    @property
    def is_draft_revision(self) -> bool:
        """ "Save as draft revision" on a story readers have seen: kept aside, nothing changes."""
        return "_save_draft_revision" in self.data and self.instance.was_published

    def posted_author_count(self) -> int:
        data, count = self.data, 0
        total = data.get("bylines-TOTAL_FORMS", "0")
        for i in range(int(total) if str(total).isdigit() else 0):
            if data.get(f"bylines-{i}-author") and not data.get(f"bylines-{i}-DELETE"):
                count += 1
        if count == 0 and self.instance.pk is None:
            count = len(services.default_byline(self.user))  # what article_save will add
        return count

    def clean(self):
        cleaned = super().clean()
        instance = self.instance if self.instance.pk else None
        if instance is not None and not workflow.can_edit(self.user, instance):
            # The story moved on while it was being edited (published, submitted in another
            # tab…): refuse with the reason, and keep the text in the form.
            self.refused = True
            raise ValidationError(workflow.edit_refusal(self.user, instance), code="refused")
        self._clean_version()
        action = self.data.get("_action", Action.SAVE)
        # A button this user may not press is refused, whatever the form showed.
        try:
            workflow.check_action(action, user=self.user, article=instance)
        except PermissionDenied as exc:
            raise ValidationError(f"Not saved: {exc} Your text is still in the form.") from exc
        self.workflow_action = action
        revision = cleaned.get("from_revision")
        if revision is not None and "lead_image" not in self.changed_data:
            # The form showed the revision's lead image; no new file was chosen, so keep it.
            set_lead_image(self.instance, revision.data.get("lead_image") or "")
        if action == Action.SCHEDULE:
            try:
                workflow.validate_schedule(cleaned.get("published_at"))
            except ValidationError as exc:
                self.add_error("published_at", exc)
        self._clean_embargo(cleaned, action, instance)
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

    def _clean_embargo(self, cleaned, action, instance):
        """Refuse what would put the story out before its embargo ends (`services.article_save`
        refuses it again); note when an editor lifts one by clearing the field."""
        changed = "embargo_until" in self.changed_data
        if changed and instance is not None and instance.is_embargoed:
            new = cleaned.get("embargo_until")
            self.embargo_lifted = new is None or new <= timezone.now()
        if not (changed or action in (Action.PUBLISH, Action.SCHEDULE)):
            return
        probe = copy.copy(self.instance)  # the article as this submit would leave it
        for name in ("published_at", "embargo_until"):
            if name in cleaned:
                setattr(probe, name, cleaned[name])
        workflow.apply_action(probe, action)
        refusal = workflow.embargo_refusal(probe, before=instance.state if instance else None)
        if refusal:
            raise ValidationError(f"Not saved: {refusal}", code="embargo")

    def clean_loaded_version(self):
        """A version the article never had is a tampered form, not someone else's save."""
        loaded = self.cleaned_data.get("loaded_version")
        if loaded and self.instance.pk and loaded > self.instance.version:
            raise ValidationError(
                "This form was not loaded from a saved version of the article. Reload the page."
            )
        return loaded

    def clean_from_revision(self):
        """The revision this form was loaded from (None when it is not one of this article's)."""
        number = self.cleaned_data.get("from_revision")
        if not number or not self.instance.pk:
            return None
        return self.instance.revisions.filter(number=number).first()

    def _clean_version(self):
        if not self.instance.pk or "loaded_version" not in self.fields:
            return
        loaded = self.cleaned_data.get("loaded_version") or self.instance.version
        self.expected_version = loaded
        if loaded != self.instance.version:
            self.conflict = stale_version_error(
                self.instance, expected_version=loaded, viewer=self.user
            )
            # Saving again after reading the differences is a deliberate choice to replace the
            # stored version, so the hidden field moves on to the version now stored.
            self.data = self.data.copy()
            self.data[self.add_prefix("loaded_version")] = str(self.instance.version)
            self._merge_stored(self.conflict)
            raise ValidationError(
                "%(who)s Your changes have not been saved: they are still in the form below. "
                "Compare them with the differences shown, then save again to replace the "
                "stored version with yours.",
                code="stale_version",
                params={"who": str(self.conflict)},
            )

    def _merge_stored(self, conflict):
        """Fields the other save changed and this editor did not are put into the form as they
        are now stored, so saving again overwrites only what this editor changed."""
        if conflict.loaded_data is None:
            return
        merge = merge_snapshots(conflict.loaded_data, self._posted_snapshot(), conflict.stored_data)
        for name in merge.taken:
            self._set_posted(name, conflict.stored_data[name])
        conflict.merge = merge

    def _posted_snapshot(self) -> dict:
        """The posted edit in the shape of a revision snapshot (the fields the form holds)."""
        posted = {}
        for name in MERGED_FIELDS:
            if name not in self.cleaned_data or name in ("lead_image", "byline"):
                continue
            value = self.cleaned_data[name]
            if name == "category":
                value = {"id": value.pk} if value else None
            elif name == "tags":
                value = [{"id": tag.pk} for tag in value]
            posted[name] = value
        return posted

    def _set_posted(self, name: str, value):
        key = self.add_prefix(name)
        if name == "category":
            self.data[key] = str(value["id"]) if value else ""
        elif name == "tags":
            self.data.setlist(key, [str(tag["id"]) for tag in value or []])
        elif isinstance(value, bool):
            if value:
                self.data[key] = "on"
            else:
                self.data.pop(key, None)
        else:
            self.data[key] = value or ""


def byline_from(formsets) -> list | None:
    """The authors the byline inline holds, in position order (None when it is not posted)."""
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
            return [row["author"] for row in rows]
    return None


class CorrectionFormSet(forms.BaseInlineFormSet):
    """Corrections are optional: a post that does not carry this inline (an older form, a
    scripted client) means "no new corrections", not a broken form."""

    def __init__(self, data=None, *args, **kwargs):
        prefix = kwargs.get("prefix") or self.get_default_prefix()
        if data is not None and f"{prefix}-TOTAL_FORMS" not in data:
            data = data.copy()
            data[f"{prefix}-TOTAL_FORMS"] = data[f"{prefix}-INITIAL_FORMS"] = "0"
        super().__init__(data, *args, **kwargs)


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
