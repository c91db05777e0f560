"""Readable differences between two snapshots of an article, as escaped HTML.

Used by the revision history and by the edit-conflict message. Every piece of text is escaped
before it is wrapped in `<ins>`/`<del>`, so the output is safe to show as it is.
"""

import difflib
import re
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# The fields a person reads, in the order the change form shows them.
FIELD_LABELS = [
    ("headline", "Headline"),
    ("slug", "Slug"),
    ("standfirst", "Standfirst"),
    ("body", "Body"),
    ("body_format", "Body format"),
    ("status", "Status"),
    ("published_at", "Published at"),
    ("unpublish_at", "Unpublish at"),
    ("featured", "Featured"),
    ("category", "Category"),
    ("tags", "Tags"),
    ("byline", "Byline"),
    ("dateline", "Dateline"),
    ("source", "Source"),
    ("lead_image", "Lead image"),
    ("lead_image_alt", "Lead image alt text"),
    ("lead_image_caption", "Lead image caption"),
    ("lead_image_credit", "Lead image credit"),
    ("seo_title", "SEO title"),
    ("seo_description", "SEO description"),
    ("workflow_note", "Note for the desk"),  # only in autosaves: revisions do not keep it
]

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]", re.UNICODE)


@dataclass
class FieldDiff:
    name: str
    label: str
    html: SafeString


def display_value(data: dict, name: str) -> str:
    """A snapshot field as a person reads it."""
    value = data.get(name)
    if name == "category":
        return (value or {}).get("name", "") if isinstance(value, dict) else ""
    if name in ("tags", "byline"):
        return ", ".join(item.get("name", "") for item in value or [])
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def inline_diff(old: str, new: str) -> SafeString:
    """Word-level inline diff: removed text in `<del>`, added text in `<ins>`."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            out.append(f"<del>{escape(''.join(a[i1:i2]))}</del>")
        if op in ("insert", "replace"):
            out.append(f"<ins>{escape(''.join(b[j1:j2]))}</ins>")
    return mark_safe("".join(out))  # noqa: S308 - every piece above is escaped


def snapshot_diff(old: dict, new: dict) -> list[FieldDiff]:
    """The fields that differ between two snapshots, each with an inline diff."""
    diffs = []
    for name, label in FIELD_LABELS:
        before, after = display_value(old, name), display_value(new, name)
        if before != after:
            diffs.append(FieldDiff(name, label, inline_diff(before, after)))
    return diffs


def snapshot_diff_html(old: dict, new: dict) -> SafeString:
    """The differences as a small table, or a sentence when there are none."""
    rows = snapshot_diff(old, new)
    if not rows:
        return mark_safe('<p class="diff-none">No differences.</p>')
    body = "".join(
        f'<tr><th scope="row">{escape(row.label)}</th><td class="diff">{row.html}</td></tr>'
        for row in rows
    )
    return mark_safe(  # noqa: S308 - labels escaped, cells built by inline_diff
        '<table class="revision-diff"><thead><tr><th scope="col">Field</th>'
        f'<th scope="col">Changes</th></tr></thead><tbody>{body}</tbody></table>'
    )
