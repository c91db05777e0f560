"""`{% card %}`, `{% result %}`, `{% byline %}` and `{% corrections %}`: the article card, the
search result and the byline of every public list, and an article's corrections, written in Python.

A card is the most repeated thing a reader's page renders (up to 40 on the front page), and as an
included template each one cost about 0.4 ms of variable lookups, includes and date formatting:
most of an uncached list page. These functions write the same HTML with the same escaping
(`conditional_escape` on every value; headlines and names are plain text) in a tenth of that.
They are the only definitions of the card, the search result and the byline; templates call the
tags.
"""

import html

from django import template
from django.template.defaultfilters import linebreaksbr
from django.utils import timezone
from django.utils.dates import MONTHS_3
from django.utils.safestring import mark_safe
from django.utils.text import Truncator

from ..models import SLUG_PLACEHOLDER, slug_pattern
from .newsdesk_dates import long_date, machine_time
from .newsdesk_images import picture

register = template.Library()

LEAD_SIZES = "(min-width: 48rem) 44rem, 100vw"


def esc(value) -> str:
    """Django's `conditional_escape`, without its lazy-string wrapper (a tenth of a card's cost):
    markup-safe values as they are, anything else through the same `html.escape`."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    return html.escape(str(value))


class Page:
    """What every card of one page shares, looked up once per template render: the address
    patterns of the models' pages (`slug_pattern`) and the time zone. Each of those lookups
    reads thread-local state, and a card made a dozen of them."""

    def __init__(self):
        self.patterns = {}
        self.zone = timezone.get_current_timezone()

    def url(self, obj) -> str:
        if not obj.slug:
            return obj.get_absolute_url()
        pattern = self.patterns.get(obj.URL_NAME)
        if pattern is None:
            pattern = self.patterns[obj.URL_NAME] = slug_pattern(obj.URL_NAME)
        return pattern.replace(SLUG_PLACEHOLDER, obj.slug)


def _page(context) -> Page:
    page = context.render_context.get(Page)
    if page is None:
        page = context.render_context[Page] = Page()
    return page


def short_date(value, zone=None) -> str:
    """`j M Y, H:i` in the site's time zone (as the `date` filter writes it)."""
    local = timezone.localtime(value, zone)
    return f"{local.day} {MONTHS_3[local.month].title()} {local.year}, {local:%H:%M}"


def byline_html(article, page=None) -> str:
    authors = article.byline_authors
    if not authors:
        return ""
    page = page or Page()
    parts = []
    last = len(authors) - 1
    for i, author in enumerate(authors):
        if i:
            parts.append(" and " if i == last else ", ")
        parts.append(f'<a href="{esc(page.url(author))}" rel="author">{esc(author.name)}</a>')
    return f'<span class="byline">By {"".join(parts)}</span>'


def time_html(value, zone=None) -> str:
    return f'<time datetime="{machine_time(value, zone)}">{short_date(value, zone)}</time>'


def card_html(article, *, lead=False, compact=False, level=3, page=None) -> str:
    page = page or Page()
    out = [f'<article class="card{" card--lead" if lead else ""}">\n  ']
    category = article.category
    if category:
        out.append(
            f'<p class="kicker"><a href="{esc(page.url(category))}">{esc(category.name)}</a></p>'
        )
    out.append("\n  ")
    if lead and article.lead_image:
        out.append(
            picture(
                article.lead_image,
                alt=article.lead_image_alt,
                sizes=LEAD_SIZES,
                lazy=False,
                css_class="card__picture",
            )
        )
    level = esc(level or 3)
    out.append(
        f'\n  <h{level} class="card__headline"><a href="{esc(page.url(article))}">'
        f"{esc(article.headline)}</a></h{level}>\n  "
    )
    if article.standfirst and not compact:
        standfirst = Truncator(article.standfirst).words(40, truncate=" …")
        out.append(f'<p class="card__standfirst">{esc(standfirst)}</p>')
    byline = byline_html(article, page)
    out.append(f'\n  <p class="meta">{byline}{" · " if byline else ""}')
    out.append(time_html(article.published_at, page.zone))
    if article.is_revised:
        modified = time_html(article.modified_at, page.zone)
        out.append(f' · <span class="updated">Updated {modified}</span>')
    out.append("</p>\n</article>\n")
    return "".join(out)


def result_html(article, page=None) -> str:
    """A search result: a card whose headline and snippet carry the search's <mark>s
    (`search_headline` and `search_snippet`, escaped where they were made)."""
    page = page or Page()
    out = ['<article class="card">\n      ']
    category = article.category
    if category:
        out.append(
            f'<p class="kicker"><a href="{esc(page.url(category))}">{esc(category.name)}</a></p>'
        )
    byline = byline_html(article, page)
    out.append(
        f'\n      <h3 class="card__headline"><a href="{esc(page.url(article))}">'
        f"{esc(article.search_headline)}</a></h3>\n"
        f'      <p class="card__standfirst snippet">{esc(article.search_snippet)}</p>\n'
        f'      <p class="meta">{byline}{" · " if byline else ""}'
        f"{time_html(article.published_at, page.zone)}</p>\n    </article>"
    )
    return "".join(out)


def corrections_html(article, *, pinned, page=None) -> str:
    """The article's corrections shown at the top (`pinned`) or at its foot, in their order,
    from the prefetched `article.corrections` (written here: two included templates with a
    regroup each were a twentieth of an article page)."""
    chosen = [c for c in article.corrections.all() if bool(c.pinned_top) == pinned]
    if not chosen:
        return ""
    zone = (page or Page()).zone
    items = []
    for correction in chosen:
        created = correction.created_at
        shown = long_date(created, zone)
        items.append(
            f'\n    <li id="{esc(correction.anchor)}" class="correction'
            f' correction--{esc(correction.kind)}">\n'
            f"      <strong>{esc(correction.get_kind_display())}</strong>\n"
            f'      (<time datetime="{machine_time(created, zone)}">{esc(shown)}</time>):\n'
            f"      {linebreaksbr(correction.text, autoescape=True)}\n    </li>\n  "
        )
    where, label = ("top", "Notes on this story") if pinned else ("foot", "Corrections and updates")
    return (
        f'\n<aside class="corrections corrections--{where}" aria-label="{label}">\n  <ul>\n  '
        f"{''.join(items)}\n  </ul>\n</aside>\n"
    )


@register.simple_tag(takes_context=True)
def corrections(context, article, pinned=False):
    return mark_safe(corrections_html(article, pinned=pinned, page=_page(context)))  # noqa: S308


@register.simple_tag(takes_context=True)
def result(context, article):
    return mark_safe(result_html(article, _page(context)))  # noqa: S308 - escaped above


@register.simple_tag(takes_context=True)
def card(context, article, lead=False, compact=False, level=3):
    html_ = card_html(article, lead=lead, compact=compact, level=level, page=_page(context))
    return mark_safe(html_)  # noqa: S308 - every value escaped above


@register.simple_tag(takes_context=True)
def byline(context, article):
    return mark_safe(byline_html(article, _page(context)))  # noqa: S308 - escaped above
