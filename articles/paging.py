"""Pages of long lists that cost the same on any size of archive: the readers' lists and the
desk's change list share this one paginator.

- A page reads its ids first, over the covering index, then only that page's rows: a deep page's
  OFFSET walks ids instead of whole rows.
- It counts at most `count_limit` rows (COUNT_LIMIT for readers): past that the total is unknown
  (`counted` is False), the page says "more than", and any page that has rows opens. A list
  that shows no total (`count=False`) counts nothing.
- Lists in NEWEST_FIRST order link their deep pages with a cursor (below).
"""

from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from .compiled import Compiled

COUNT_LIMIT = 500  # rows a reader's list counts at most (25 pages of 20)
NEWEST_FIRST = ("-published_at", "-pk")  # the order the cursor of deep pages follows


class CompiledList:
    """A list whose count and page ids are compiled queries (`articles.compiled`), for the lists
    every reader meets (the archive, a section, an author, a topic): building and compiling the
    two querysets was most of the Python of those queries, and on PostgreSQL the kept SQL is a
    prepared statement. `rows(**values)` is the list in NEWEST_FIRST order. A cursor page
    (`after`) is compiled too; the paginator still gets the list's queryset, for its order and
    for pages past the counted ones."""

    def __init__(self, rows):
        self.rows = rows
        self.ids = Compiled(
            lambda *, bottom, top, **values: (
                rows(**values).order_by(*NEWEST_FIRST).values_list("pk", flat=True)[bottom:top]
            )
        )
        self.counted = Compiled(
            lambda *, limit, **values: (
                rows(**values).order_by().values_list("pk", flat=True)[:limit]
            )
        )
        self.cursor_time = Compiled(lambda *, after, **values: cursor_time(rows(**values), after))
        self.following = Compiled(
            lambda *, top, when, after, **values: after_cursor(
                rows(**values), when, after
            ).values_list("pk", flat=True)[:top]
        )


class LazyRows:
    """A list's queryset in NEWEST_FIRST order, built only when a page needs it (`build()`
    returns it): with a CompiledList the counted pages and the cursor pages never do, and
    building the queryset of a topic's list (its EXISTS) cost a third of a millisecond a page."""

    ordered = True  # for Paginator's check

    def __init__(self, build):
        self.build = build

    @cached_property
    def queryset(self):
        return self.build().order_by(*NEWEST_FIRST)


class IdFirstPaginator(Paginator):
    """Pages a queryset by its ids first: a deep page's OFFSET walks the covering index instead
    of whole rows, then only that page's rows are read (one query more, at any depth).

    It counts at most COUNT_LIMIT rows, so a page costs the same on a large archive: past that
    the total is unknown (`counted` is False), "more than COUNT_LIMIT" is shown, and any page
    that has articles can be opened.

    Past COUNT_LIMIT rows, a list in NEWEST_FIRST order links its next page with a cursor,
    `?page=N&after=<id of this page's last article>`: that page starts right after the article
    (by publication time, then id) through the index instead of skipping N × 20 rows, so the
    thousandth page costs what the first does. A cursor that no longer names an article of the
    list (unpublished since) falls back to the page number; `?page=N` alone still works.
    """

    def __init__(
        self, *args, after=None, count=True, count_limit=None, rows=None, compiled=None, **kwargs
    ):
        super().__init__(*args, **kwargs)
        # `count=False`: the page says "Page N" and links the next one when it has one, and no
        # query counts the list (a topic's or an author's count grew with the archive).
        self.counts = self.counted = count
        self.after = after
        self.count_limit = count_limit  # None: COUNT_LIMIT
        self.rows = rows  # ids -> the page's objects; default: the list's own rows
        self.compiled = compiled  # (CompiledList, values): the same list, compiled

    @property
    def listed(self) -> bool:
        """A list of the database's rows (a queryset, or one built on demand), paged by ids."""
        return isinstance(self.object_list, QuerySet | LazyRows)

    @property
    def queryset(self):
        rows = self.object_list
        return rows.queryset if isinstance(rows, LazyRows) else rows

    @property
    def limit(self):
        return COUNT_LIMIT if self.count_limit is None else self.count_limit

    @cached_property
    def count(self):
        if not self.listed:
            found = super().count
            self.counted = getattr(self.object_list, "complete", True)  # search's window
            return found
        if self.compiled is not None:
            queries, values = self.compiled
            found = queries.counted.count(fixed={"limit": self.limit + 1}, **values)
        else:
            found = self.queryset.order_by().values("pk")[: self.limit + 1].count()
        self.counted = found <= self.limit
        return min(found, self.limit)

    def validate_number(self, number):
        if self.listed and (not self.counts or (self.count and not self.counted)):
            return self._positive(number)
        return super().validate_number(number)

    def _positive(self, number):
        try:
            number = int(number)
        except (TypeError, ValueError):
            raise PageNotAnInteger("That page number is not an integer") from None
        if number < 1:
            raise EmptyPage("That page number is less than 1")
        if number > 2**40:  # past any archive, and an OFFSET the database refuses
            raise EmptyPage("That page contains no results")
        return number

    def page(self, number):
        number = self.validate_number(number)
        if not self.listed:
            return super().page(number)
        bottom = (number - 1) * self.per_page
        ids = self._following()
        if ids is None and self.compiled is not None and bottom < self.limit:
            # Compiled for the counted pages only: each OFFSET is a shape of its own, and a
            # deep page by number (without the cursor) must not add one per page it names.
            queries, values = self.compiled
            span = {"bottom": bottom, "top": bottom + self.per_page + 1}
            ids = queries.ids.column(fixed=span, **values)
        elif ids is None:
            ids = list(
                self.queryset.values_list("pk", flat=True)[bottom : bottom + self.per_page + 1]
            )
        if not self.counted:
            if not ids and number > 1:  # page 1 of an empty list is that empty list
                raise EmptyPage("That page contains no results")
            # Known so far: this page, and the next one if there is one.
            self.__dict__["num_pages"] = number + (len(ids) > self.per_page)
        more = len(ids) > self.per_page
        ids = ids[: self.per_page]
        if self.rows is not None:
            rows = {obj.pk: obj for obj in self.rows(ids)}
        else:
            rows = {obj.pk: obj for obj in self.queryset.order_by().filter(pk__in=ids)}
        page = self._get_page([rows[pk] for pk in ids if pk in rows], number, self)
        deep = bottom + self.per_page >= self.limit
        page.next_after = ids[-1] if more and deep and self._ordered_newest_first() else None
        return page

    def _ordered_newest_first(self):
        if isinstance(self.object_list, LazyRows):
            return True
        return isinstance(self.object_list, QuerySet) and (
            tuple(self.object_list.query.order_by) == NEWEST_FIRST
        )

    def _following(self):
        """The ids of the rows after the cursor article (this page's, and one more), or None
        (no cursor, or it is not in the list)."""
        after = str(self.after or "")
        if not (after.isdigit() and 0 < int(after) < 2**63 and self._ordered_newest_first()):
            return None
        after, top = int(after), self.per_page + 1
        if self.compiled is not None:
            queries, values = self.compiled
            when = queries.cursor_time.column(after=after, **values)
            if not when:
                return None
            return queries.following.column(fixed={"top": top}, when=when[0], after=after, **values)
        when = list(cursor_time(self.queryset, after))
        if not when:
            return None
        return list(after_cursor(self.queryset, when[0], after).values_list("pk", flat=True)[:top])


def cursor_time(rows, after):
    """The publication time of article `after` when it is one of `rows`."""
    return rows.filter(pk=after).values_list("published_at", flat=True)[:1]


def after_cursor(rows, when, after):
    """`rows` after the cursor article `after` (published at `when`), in NEWEST_FIRST order."""
    # The cursor's bound comes first in the WHERE clause: SQLite takes the first of two upper
    # bounds on `published_at` for its index range, and the list's own "published by now"
    # bound would make it walk every newer row (measured: 1 ms against 28 ms).
    bound = rows.model.objects.filter(published_at__lte=when) & rows
    return bound.exclude(published_at=when, pk__gte=after).order_by(*NEWEST_FIRST)


def last_page_query(rows, per_page) -> str:
    """`page=N` of the last page of `rows` (in NEWEST_FIRST order), with the cursor its "Older"
    link carries when it lies past COUNT_LIMIT (the benchmark measures deep pages this way)."""
    total = rows.count()
    last = max(1, -(-total // per_page))
    if (last - 1) * per_page < COUNT_LIMIT:
        return f"page={last}"
    before = rows.order_by(*NEWEST_FIRST).values_list("pk", flat=True)[(last - 1) * per_page - 1]
    return f"page={last}&after={before}"
