"""The reader's query, parsed and rebuilt for each backend; highlight markers made safe HTML.

Pure text handling: nothing here touches the database, so it can be read and tested alone.
"""

import functools
import re
import unicodedata
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


_MARKERS = re.compile(f"([{HIGHLIGHT_START}{HIGHLIGHT_END}])")


def highlight(text: str) -> SafeString:
    """Escape `text`, then turn only the highlight markers into balanced <mark> elements."""
    # Escaped whole, once (the markers are private-use characters escaping leaves alone): a
    # search page highlights forty texts, and escaping piece by piece was ten times the calls.
    text = escape((text or "").translate(_RESTORE_ANGLES))
    if HIGHLIGHT_START not in text and HIGHLIGHT_END not in text:
        return text
    out, open_ = [], False
    for piece in _MARKERS.split(text):
        if piece == HIGHLIGHT_START:
            if not open_:
                out.append("<mark>")
                open_ = True
        elif piece == HIGHLIGHT_END:
            if open_:
                out.append("</mark>")
                open_ = False
        else:
            out.append(piece)
    if open_:
        out.append("</mark>")
    return mark_safe("".join(out))  # noqa: S308 - the text was escaped above


_SUFFIXES = ("ing", "ed", "es", "s", "ly")


def _fold(text: str) -> str:
    """Lower case without accents, one character for one (so match offsets stay valid)."""
    if text.isascii():
        return text.lower()
    return "".join(unicodedata.normalize("NFD", c.lower())[0] for c in text)


def _stem(word: str) -> str:
    """A prefix that finds the forms the index's stemmer matched (votes, voting → vot)."""
    word = _fold(word)
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _stems(parsed: ParsedQuery) -> tuple[str, ...]:
    stems = {_stem(w) for w in [*parsed.terms, *(w for p in parsed.phrases for w in p)]}
    stems.discard("")
    return tuple(sorted(stems, key=len, reverse=True))


def match_pattern(parsed: ParsedQuery) -> re.Pattern | None:
    """Words that start with a stem of a searched term or phrase word (folded text)."""
    stems = _stems(parsed)
    if not stems:
        return None
    return re.compile(rf"\b(?:{'|'.join(map(re.escape, stems))})\w*")


def first_match(folded: str, stems) -> int | None:
    """Where `match_pattern`'s first match in `folded` starts (None if nowhere), found with
    `str.find` per stem: the pattern's leading word boundary keeps Python's regular
    expressions from skipping ahead, and searching a result's whole body with it was a tenth
    of a search page."""
    best = None
    for stem in stems:
        at = folded.find(stem)
        while at > 0 and (folded[at - 1].isalnum() or folded[at - 1] == "_"):  # not \b
            at = folded.find(stem, at + 1)
        if at != -1 and (best is None or at < best):
            best = at
    return best


def mark_snippet(
    text: str, pattern: re.Pattern | None, words: int = 30, folded=None, at=None
) -> str:
    """About `words` words of plain `text` around its first match of `pattern` (see
    `match_pattern`), matches wrapped in highlight markers for `highlight`; the opening of the
    text when nothing matches. `folded` is `_fold(text)` and `at` where the first match starts
    (0: none) when the caller knows them."""
    if not text or not text.strip():
        return ""
    folded = _fold(text) if folded is None else folded
    if at is None:
        first = pattern.search(folded) if pattern else None
        at = first.start() if first else 0
    start, end, spans = _words_around(text, at, words)
    if not spans:
        return ""
    lo, hi = spans[start][0], spans[end - 1][1]
    out, at = [], lo
    for match in pattern.finditer(folded, lo, hi) if pattern else ():
        out += [text[at : match.start()], HIGHLIGHT_START, text[match.start() : match.end()]]
        out.append(HIGHLIGHT_END)
        at = match.end()
    out.append(text[at:hi])
    before, after = text[:lo].strip(), text[hi:].strip()
    return ("… " if before else "") + "".join(out) + (" …" if after else "")


_RUN_OF_NON_SPACE = re.compile(r"\S+")


def _words_around(text: str, at: int, words: int):
    """(start, end, spans): the (start, end) offsets of the words of `text` in a stretch around
    offset `at`, and the `words` of them a snippet shows, `spans[start:end]` (about a quarter
    before `at`). Only the stretch is split into words (splitting a whole body cost about
    100 µs a result); it grows until the snippet's words lie inside it, so they are the words
    the whole text would give."""
    reach = 12 * words  # characters on either side: enough for most text's words
    while True:
        low, high = max(0, at - reach), min(len(text), at + reach)
        spans = [m.span() for m in _RUN_OF_NON_SPACE.finditer(text, low, high)]
        if low and spans and spans[0][0] == low and not text[low - 1].isspace():
            spans.pop(0)  # cut at the stretch's edge: not a word of its own
        if high < len(text) and spans and spans[-1][1] == high and not text[high].isspace():
            spans.pop()
        index = next((i for i, (_, end) in enumerate(spans) if end > at), len(spans) - 1)
        start = max(0, index - words // 4)
        end = min(len(spans), start + words)
        start = max(0, end - words)
        if (start > 0 or low == 0) and (end < len(spans) or high == len(text)):
            return start, end, spans
        reach *= 4


@functools.lru_cache(maxsize=64)
def _matcher(terms: tuple, phrases: tuple):
    """(`match_pattern`, its stems) for a query's words, made once for a page of results."""
    parsed = ParsedQuery(terms=list(terms), phrases=[list(p) for p in phrases])
    return match_pattern(parsed), _stems(parsed)


def pick_snippet(lede: str, body: str, parsed: ParsedQuery) -> str:
    """The body's matches, else the standfirst's, else the opening of the body (plain text)."""
    pattern, stems = _matcher(tuple(parsed.terms), tuple(map(tuple, parsed.phrases)))
    for text in (body, lede):
        folded = _fold(text) if text and pattern else ""
        at = first_match(folded, stems) if folded else None
        if at is not None:
            return mark_snippet(text, pattern, folded=folded, at=at)
    return mark_snippet(body or lede, pattern, at=0)  # no match in either
