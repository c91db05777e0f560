"""What each field holds, and the one path from what an editor typed to what readers get.

Every field an editor, an import or a client can fill is declared in `FIELD_KINDS` as plain
text or as markup. Plain text is escaped in HTML pages (the templates' autoescape) and passes
`plain_text` (markup stripped) on every surface written for machines: feeds, JSON-LD, meta
tags, sitemaps. Markup passes `sanitize`. Surfaces ask `field_text` / `field_html`, which go by
the declaration, so a field cannot be on no list.

Markdown bodies go through markdown-it-py in CommonMark mode with raw HTML off; plain-text
bodies (wire copy) become escaped paragraphs; HTML bodies (ninjs, NewsML-G2) are taken as
they came. Every way the result passes through nh3, so a
bug in one renderer cannot put a script on the page.
"""

import html
import re

import nh3
from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable("table")

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "cite", "code", "del", "em", "figcaption", "figure",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q", "s", "strong",
    "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
    "abbr": {"title"},
}
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\u00a0]*\n+")

TEXT, HTML = "text", "html"
# Every field that holds words, by model: plain text, or markup that passes `sanitize` (the
# article body, written as Markdown or wire copy and stored rendered in `body_html`). A test
# fails when a model gains a text field that is not declared here.
FIELD_KINDS = {
    "Article": {
        "headline": TEXT, "standfirst": TEXT, "body": HTML, "dateline": TEXT, "source": TEXT,
        "seo_title": TEXT, "seo_description": TEXT, "lead_image_caption": TEXT,
        "lead_image_credit": TEXT, "lead_image_alt": TEXT, "withdrawal_reason": TEXT,
        "ingest_uri": TEXT,
    },
    "Author": {"name": TEXT, "bio": TEXT, "photo_alt": TEXT},
    "Category": {"name": TEXT, "description": TEXT},
    "Tag": {"name": TEXT},
    "Correction": {"text": TEXT},
    # The desk's own: notes, a share link's reader's browser, texts written from the above.
    "StateChange": {"note": TEXT}, "Revision": {"note": TEXT}, "ShareLink": {"note": TEXT},
    "ShareLinkOpen": {"user_agent": TEXT}, "Notification": {"text": TEXT},
    "AuditEntry": {"object_repr": TEXT},
}  # fmt: skip
# Characters XML 1.0 cannot carry (a feed or sitemap with one is not XML at all).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def sanitize(html: str) -> str:
    """The single sanitiser every rendered body passes through."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def plain_text_to_html(text: str) -> str:
    paragraphs = [p.strip() for p in _PARAGRAPH_BREAK.split(text.strip())]
    return "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs if p)


def render_body(text: str, body_format: str = "markdown") -> str:
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    if body_format == "plain":
        html = plain_text_to_html(text)
    elif body_format == "html":
        html = text  # ingested ninjs / NewsML-G2 bodies: markup from outside, sanitised below
    else:
        html = _markdown.render(text)
    return sanitize(html)


def html_to_text(rendered: str) -> str:
    """A rendered body as plain text (search snippets): the sanitiser with no tags allowed, the
    entities it leaves decoded, whitespace collapsed."""
    # A function, not the template r" \1": expanding a template per match cost 2.5x as much.
    spaced = _BLOCK_TAG.sub(lambda tag: " " + tag[1], rendered or "")
    return " ".join(html.unescape(nh3.clean(spaced, tags=set())).split())


_BLOCK_TAG = re.compile(r"(</?(?:p|li|h[2-6]|blockquote|br|tr|td|th|figcaption|pre)\b)")


def plain_text(value: str) -> str:
    """`value` as plain text for surfaces written for machines (feeds, JSON-LD, meta tags,
    sitemaps): markup stripped (script and style with their content), entities decoded, and
    repeated until nothing changes, so the result holds no markup whether a consumer reads it
    as text, as HTML, or decodes its entities once more. Characters XML cannot carry go too."""
    text = _XML_ILLEGAL.sub("", str(value or ""))
    if "<" not in text and "&" not in text:  # no tag, no entity: already plain
        return text.strip()
    for _ in range(10):
        stripped = html.unescape(nh3.clean(text, tags=set()))
        if stripped == text:
            return text.strip()
        text = _XML_ILLEGAL.sub("", stripped)
    return text.replace("<", "\u2039").replace(">", "\u203a").strip()  # nested past real text


def kind_of(instance, name: str) -> str:
    """The declared kind (TEXT or HTML) of a field; KeyError for a field nobody declared."""
    return FIELD_KINDS[type(instance).__name__][name]


def field_text(instance, name: str) -> str:
    """A field as plain text, by its declared kind (markup fields: their sanitised HTML's text)."""
    if kind_of(instance, name) == HTML:
        return html_to_text(getattr(instance, f"{name}_html"))
    return plain_text(getattr(instance, name))


def field_html(instance, name: str) -> SafeString:
    """A field as HTML for a feed reader: plain text stripped and escaped, paragraphs and line
    breaks kept; markup fields sanitised."""
    if kind_of(instance, name) == HTML:
        return mark_safe(sanitize(getattr(instance, f"{name}_html")))  # noqa: S308
    return mark_safe(linebreaks(plain_text(getattr(instance, name)), autoescape=True))  # noqa: S308
