"""The reader's query, parsed and rebuilt for each backend; highlight markers made safe HTML.

Pure text handling: nothing here touches the database, so it can be read and tested alone.
"""

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Private-use characters mark highlights; the text is escaped before they become <mark>.
HIGHLIGHT_START, HIGHLIGHT_END = "\ue000", "\ue001"
# ts_headline parses < and > as HTML tags and drops them; they travel as these instead.
ANGLE_STANDINS = "\ue002\ue003"
_RESTORE_ANGLES = str.maketrans(ANGLE_STANDINS, "<>")


class SearchQueryError(ValueError):
    """The reader's query cannot be searched; the message says why."""


@dataclass
class ParsedQuery:
    terms: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    excluded: list[list[str]] = field(default_factory=list)

    @property
    def has_positive(self) -> bool:
        return bool(self.terms or self.phrases)


_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")


def parse_query(text: str) -> ParsedQuery:
    """Split a query the way search engines read one: words, "phrases" and -excluded words."""
    parsed = ParsedQuery()
    for match in _TOKEN.finditer(text):
        negate, quoted, bare = match.groups()
        if quoted is not None:
            words = _WORD.findall(quoted)
            if not words:
                continue
            (parsed.excluded if negate else parsed.phrases).append(words)
            continue
        negate = bare.startswith("-") and len(bare) > 1
        words = _WORD.findall(bare[1:] if negate else bare)
        if not words:
            continue
        if negate:
            parsed.excluded.append(words)
        elif len(words) > 1:
            # "e-mail", "U.S." and the like: the parts must stand together.
            parsed.phrases.append(words)
        else:
            parsed.terms.append(words[0])
    return parsed


def clean_query(text: str) -> ParsedQuery:
    """Validate and parse, or raise SearchQueryError with a message for the reader."""
    if len(text) > settings.SEARCH_MAX_LENGTH:
        raise SearchQueryError(
            f"Search queries can be at most {settings.SEARCH_MAX_LENGTH:,} characters long "
            f"(yours has {len(text):,})."
        )
    parsed = parse_query(text)
    if not parsed.has_positive:
        raise SearchQueryError(
            "Enter at least one word to search for (words starting with - only exclude)."
        )
    return parsed


def _fts5_phrase(words: list[str]) -> str:
    # FTS5 strings are double-quoted; words hold only \w characters, so nothing else to escape.
    return '"' + " ".join(words) + '"'


def fts5_expression(parsed: ParsedQuery) -> str:
    positive = " AND ".join(
        [_fts5_phrase([t]) for t in parsed.terms] + [_fts5_phrase(p) for p in parsed.phrases]
    )
    if not parsed.excluded:
        return positive
    negative = " OR ".join(_fts5_phrase(p) for p in parsed.excluded)
    return f"({positive}) NOT ({negative})"


def websearch_expression(parsed: ParsedQuery) -> str:
    parts = list(parsed.terms)
    parts += ['"' + " ".join(p) + '"' for p in parsed.phrases]
    parts += ["-" + (p[0] if len(p) == 1 else '"' + " ".join(p) + '"') for p in parsed.excluded]
    return " ".join(parts)


def highlight(text: str) -> SafeString:
    """Escape `text`, then turn only the highlight markers into balanced <mark> elements."""
    out, open_ = [], False
    text = (text or "").translate(_RESTORE_ANGLES)
    for piece in re.split(f"([{HIGHLIGHT_START}{HIGHLIGHT_END}])", text):
        if piece == HIGHLIGHT_START:
            if not open_:
                out.append("<mark>")
                open_ = True
        elif piece == HIGHLIGHT_END:
            if open_:
                out.append("</mark>")
                open_ = False
        else:
            out.append(escape(piece))
    if open_:
        out.append("</mark>")
    return mark_safe("".join(out))  # noqa: S308 - every piece of text was escaped above


def pick_snippet(lede: str, body: str) -> str:
    """The body's matches, else the standfirst's, else the opening of the body."""
    if HIGHLIGHT_START in (body or ""):
        return body
    if HIGHLIGHT_START in (lede or ""):
        return lede
    return body or lede or ""
