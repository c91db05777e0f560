"""Querysets compiled to SQL once per process and bound to each request's values.

On an indexed lookup, building a queryset and compiling it costs Django more than the
database spends running it: the related articles under a story took about 10 ms of Python
for 2 ms of SQL. A `Compiled` query is built once per shape (which values are lists, and how
long) with sentinel values, its SQL and parameters are kept, and each call puts the real
values where the sentinels were. The queryset still comes from the models' own rules
(`Article.objects.published()` and friends): only the compiling is saved.

On PostgreSQL the kept SQL is also a prepared statement on each pooled connection (`kept_cursor`):
the server parses and plans it once per connection instead of on every page, which was a
third of the server's time on an article page.

A sentinel is an integer, a string or a time no row can hold. If a sentinel does not appear exactly where
a value goes (Django inlined it into the SQL text, or another parameter happens to equal it),
the query is compiled per call instead, so a shape this module cannot bind is slower, never
wrong.
"""

import datetime as dt
import enum
import functools
import re
import threading
from contextlib import contextmanager

from django.db import connections
from django.db.backends.utils import CursorDebugWrapper

try:
    import psycopg
    import psycopg.sql
except ImportError:  # SQLite only; its module keeps compiled statements by itself
    psycopg = None

_FIRST_INT = -424_242_000  # ids are positive: no row matches a sentinel by accident
_FIRST_TIME = dt.datetime(2999, 12, 31, 23, 0, 0, 424_242, tzinfo=dt.UTC)


class Compiled:
    """`build(**values)` returns a queryset; `rows(**values)` runs it, compiled once per shape.

    Values are ints, strings, aware datetimes or lists of them (each list length is its own
    shape). `fixed` values (a dict) are handed to `build` as they are and are part of the shape:
    what Django writes into the SQL itself, such as a slice's LIMIT and OFFSET. Anything else the
    queryset holds is a constant of the query and is written into the kept SQL on PostgreSQL
    (`_constants_written_in`): a request's data goes in `values`, never in what `build` closes
    over, or each distinct value would be a statement of its own.
    """

    def __init__(self, build):
        self.build = build
        self._plans = {}
        self._lock = threading.Lock()

    def bound(self, connection, values, fixed=None):
        """(sql, params, converters) of the query for `values` on `connection`; `converters`
        are the selected columns' database converters, which `rows` applies."""
        fixed = fixed or {}
        plan = self._plan(connection, values, fixed)
        if plan is None:
            return _compile(self.build(**values, **fixed), connection)
        sql, slots, params, converters = plan
        params = list(params)
        for index, (name, item) in slots:
            value = values[name] if item is None else values[name][item]
            if isinstance(value, dt.datetime):
                value = connection.ops.adapt_datetimefield_value(value)
            params[index] = value
        return sql, params, converters

    def rows(self, *, using="default", fixed=None, **values):
        """The rows, with values as the ORM gives them (aware datetimes, booleans, ...)."""
        connection = connections[using]
        sql, params, converters = self.bound(connection, values, fixed)
        with kept_cursor(connection) as cursor:
            cursor.execute(sql, params)
            return _converted(cursor.fetchall(), converters, connection)

    def column(self, *, using="default", fixed=None, **values):
        """The first column of every row (ids, usually)."""
        return [row[0] for row in self.rows(using=using, fixed=fixed, **values)]

    def count(self, *, using="default", fixed=None, **values):
        """How many rows the query gives (at most a slice's LIMIT), counted by the database:
        with no column to return, PostgreSQL counts from a covering index alone."""
        connection = connections[using]
        sql, params, _ = self.bound(connection, values, fixed)
        with kept_cursor(connection) as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM ({sql}) AS counted", params)
            return cursor.fetchone()[0]

    def union_column(self, each, *, using="default"):
        """The first column of the query run once per values in `each`, as one UNION ALL
        statement (each part keeps its own ORDER BY and LIMIT)."""
        return union_column([(self, values) for values in each], using=using)

    def _plan(self, connection, values, fixed=None):
        fixed = fixed or {}
        shape = (connection.alias, connection.vendor, *sorted(fixed.items())) + tuple(
            (name, len(value) if isinstance(value, list | tuple) else type(value).__name__)
            for name, value in sorted(values.items())
        )
        try:
            return self._plans[shape]
        except KeyError:
            pass
        with self._lock:
            if shape not in self._plans:
                self._plans[shape] = self._compile(connection, values, fixed)
        return self._plans[shape]

    def _compile(self, connection, values, fixed):
        sentinels, wanted = {}, {}
        ints, times = iter(range(_FIRST_INT, _FIRST_INT - 10_000, -1)), 0

        def stand_in(value, name, item):
            nonlocal times
            if isinstance(value, dt.datetime):
                sentinel = _FIRST_TIME + dt.timedelta(microseconds=times)
                times += 1
                wanted[connection.ops.adapt_datetimefield_value(sentinel)] = (name, item)
            elif type(value) is int:
                sentinel = next(ints)
                wanted[sentinel] = (name, item)
            elif type(value) is str:
                sentinel = f"\u2042compiled-{next(ints)}\u2042"  # no slug or name holds this
                wanted[sentinel] = (name, item)
            else:
                raise TypeError(f"{name}: a compiled query binds ints, strings and datetimes")
            return sentinel

        for name, value in values.items():
            if isinstance(value, list | tuple):
                sentinels[name] = [stand_in(v, name, i) for i, v in enumerate(value)]
            else:
                sentinels[name] = stand_in(value, name, None)
        try:
            sql, params, converters = _compile(self.build(**sentinels, **fixed), connection)
        except Exception:  # a sentinel where the queryset wants a real value (a slice, say)
            return None
        slots, seen = [], set()
        for index, param in enumerate(params):
            key = param if type(param) in (int, str, dt.datetime) else None
            if key in wanted:
                slots.append((index, wanted[key]))
                seen.add(key)
        if seen != set(wanted) or any(str(s) in sql for s in wanted if type(s) in (int, str)):
            return None
        if connection.vendor == "postgresql" and psycopg is not None:
            sql, slots, params = _constants_written_in(sql, slots, params)
        return sql, tuple(slots), tuple(params), converters


_PLACEHOLDER = re.compile(r"%%|%s")


def _plain(value):
    """A choice's own value (`Article.Status.PUBLISHED` is 'published'); any other as it is."""
    return value.value if isinstance(value, enum.Enum) else value


def _constants_written_in(sql, slots, params):
    """PostgreSQL: the query's own constants (a state such as 'published', a flag) written into
    the kept SQL as literals, so only the values bound per call stay parameters. A prepared
    statement is planned once for any values (its generic plan): with the published state a
    parameter, PostgreSQL guessed `status = $1` matched a tenth of the archive instead of nearly
    all of it, and the author page's list hash-joined every published article (12 ms instead
    of 1 at 100,000 articles)."""
    bound = dict(slots)
    kept_params, kept_slots, index = [], [], 0

    def write(match):
        nonlocal index
        if match[0] == "%%":
            return match[0]
        i, index = index, index + 1
        value = params[i]
        if i in bound:
            kept_slots.append((len(kept_params), bound[i]))
        elif isinstance(_plain(value), str | int):  # bool and psycopg's Int4 are ints
            return psycopg.sql.Literal(_plain(value)).as_string(None).replace("%", "%%")
        kept_params.append(value)
        return match[0]

    kept_sql = _PLACEHOLDER.sub(write, sql)
    if index != len(params):  # not Django's placeholders: leave the statement as it was
        return sql, slots, params
    return kept_sql, kept_slots, kept_params


def union_column(parts, *, using="default"):
    """The first column of each `(compiled, values)` query in `parts`, as one UNION ALL
    statement (each part keeps its own ORDER BY and LIMIT; their first columns must be of one
    kind)."""
    if not parts:
        return []
    connection = connections[using]
    sqls, params = [], []
    for i, (compiled, values) in enumerate(parts):
        sql, bound, converters = compiled.bound(connection, values)
        sqls.append(f"SELECT * FROM ({sql}) AS part{i}")
        params.extend(bound)
    with kept_cursor(connection) as cursor:
        cursor.execute(" UNION ALL ".join(sqls), params)
        return [row[0] for row in _converted(cursor.fetchall(), converters, connection)]


if psycopg is not None:
    from psycopg import _queries

    # psycopg converts a query's `%s` placeholders to `$n` with a regular expression on every
    # run, remembering the result only for statements under 4 KiB and 50 parameters: the kept
    # SQL of an article's row (45 columns) or of a padded list of ids is past both, and its
    # conversion cost more than the database spent running it. The kept statements are few
    # (their shapes, at most `_PREPARED_MAX`), so each is converted once per process.
    _query_parts = functools.lru_cache(maxsize=1024)(_queries._query2pg_nocache)

    class _KeptQuery(_queries.PostgresQuery):
        __slots__ = ()

        def convert(self, query, vars):
            if vars is None or not isinstance(query, str):
                return super().convert(query, vars)
            parts = _query_parts(query.encode(self._tx.encoding), self._tx.encoding)
            self.query, self._want_formats, self._order, self._parts = parts
            self.dump(vars)
            return None

    class _PreparedCursor(psycopg.Cursor):
        """A server-binding cursor whose statements are prepared on their first run."""

        _query_cls = _KeptQuery

        def execute(self, query, params=None, *, prepare=None, binary=None):
            return super().execute(query, params, prepare=prepare is not False, binary=binary)


class _PreparedDebugCursor(CursorDebugWrapper):
    """Django's query log for a prepared statement, with the values written into the SQL as
    Django logs server-side binding: psycopg does not keep a prepared statement's text, and the
    log (`connection.queries`, the tests' query captures) would show None."""

    def execute(self, sql, params=None):
        try:
            shown = self.db.ops.compose_sql(sql, params)
        except Exception:  # noqa: BLE001 - a value psycopg cannot write: log the SQL alone
            shown = sql
        with self.debug_sql(shown, params):
            return super(CursorDebugWrapper, self).execute(sql, params)


@contextmanager
def kept_cursor(connection):
    """A cursor for kept SQL: Django's own, except on PostgreSQL with prepared statements on
    (`OPTIONS["prepare_threshold"]` set, as `DATABASE_URL` does unless it says `?prepare=0`),
    where it binds on the server and prepares. Django's wrapper is kept, so errors, query
    logging and the tests' query counts are what they are for any other query."""
    if (
        connection.vendor != "postgresql"
        or psycopg is None
        or (connection.settings_dict["OPTIONS"].get("prepare_threshold") is None)
    ):
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = connection.connection
        if raw.prepared_max < _PREPARED_MAX:
            raw.prepared_max = _PREPARED_MAX
        cursor = _PreparedCursor(raw)
    wrapped = (
        _PreparedDebugCursor(cursor, connection)
        if connection.queries_logged
        else connection.make_cursor(cursor)
    )
    with wrapped:
        yield wrapped


# Statements kept per connection: every compiled shape of the pages (lists of ids are padded to
# a few lengths) with room to spare; the least recently used is deallocated past it.
_PREPARED_MAX = 400


def padded(ids: list) -> list:
    """`ids` padded with 0 (no row's id) to a power of two: a list of any length then binds
    to one of a few compiled shapes instead of one per length."""
    return ids + [0] * ((1 << max(len(ids) - 1, 0).bit_length()) - len(ids))


def _compile(queryset, connection):
    compiler = queryset.query.get_compiler(connection=connection)
    sql, params = compiler.as_sql()
    columns = [s[0] for s in compiler.select[: compiler.col_count]]
    return sql, params, _converters(columns, connection)


def _converters(columns, connection):
    """[(index, converters, column)] for the columns whose values the ORM converts."""
    found = []
    for i, column in enumerate(columns):
        each = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if each:
            found.append((i, tuple(each), column))
    return tuple(found)


def _converted(rows, converters, connection):
    """`rows` through the columns' database `converters`, as the ORM reads them."""
    if not converters:
        return rows
    out = []
    for row in rows:
        row = list(row)
        for i, found, column in converters:
            value = row[i]
            for converter in found:
                value = converter(value, column, connection)
            row[i] = value
        out.append(row)
    return out
