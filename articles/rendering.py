"""Body rendering: the one path from what an editor typed to the HTML readers get.

Markdown bodies go through markdown-it-py in CommonMark mode with raw HTML off; plain-text
bodies (wire copy) become escaped paragraphs. Either way the result passes through nh3, so a
bug in one renderer cannot put a script on the page.
"""

import html
import re

import nh3
from django.utils.html import escape
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
    else:
        html = _markdown.render(text)
    return sanitize(html)


def html_to_text(rendered: str) -> str:
    """A rendered body as plain text (search snippets): the sanitiser with no tags allowed, the
    entities it leaves decoded, whitespace collapsed."""
    spaced = re.sub(
        r"(</?(?:p|li|h[2-6]|blockquote|br|tr|td|th|figcaption|pre)\b)", r" \1", rendered or ""
    )
    return " ".join(html.unescape(nh3.clean(spaced, tags=set())).split())
