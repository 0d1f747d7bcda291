"""Database-specific helpers: the one place where SQLite and PostgreSQL are told apart."""

import datetime
import functools
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


@contextmanager
def relaxed_durability():
    """A transaction whose commit need not wait for the disk: for counters a crash may lose.

    PostgreSQL: `synchronous_commit = off` for this transaction only (a crash can lose its last
    fraction of a second, never corrupt). SQLite in WAL mode with synchronous=NORMAL already commits
    without waiting for the disk.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def ids_lookup(field, ids):
    """Filter kwargs for `field` in ids: a range when they are consecutive and ascending, else IN.

    The same rows either way. The people a bulk write creates have consecutive ids, and Django
    prepares each value of an IN list one by one (milliseconds per thousand ids); a range is two.
    """
    ids = list(ids)
    consecutive = (
        len(ids) > 1
        and all(type(i) is int for i in ids)
        and all(b - a == 1 for a, b in zip(ids, ids[1:], strict=False))
    )
    if consecutive:
        return {f"{field}__gte": ids[0], f"{field}__lte": ids[-1]}  # foreign keys have no __range
    return {f"{field}__in": ids}


def refresh_statistics(*models, vacuum=False):
    """Bring the planner's statistics of `models`' tables up to date (ANALYZE), now.

    With vacuum on PostgreSQL, outside a transaction, VACUUM ANALYZE: the visibility map too, so that
    counts read the index instead of the table. For tables that a run just filled or rebuilt: the
    planner otherwise plans them as it last saw them, until autovacuum comes by (if it runs at all).
    """
    db = connections[DEFAULT_DB_ALIAS]
    command = (
        "VACUUM ANALYZE" if vacuum and db.vendor == "postgresql" and not db.in_atomic_block else "ANALYZE"
    )
    with db.cursor() as cursor:
        for model in models:
            cursor.execute(f"{command} {db.ops.quote_name(model._meta.db_table)}")  # noqa: S608 (a model's table)


class GrowthStatistics:
    """Keeps PostgreSQL's statistics of tables that a long run fills from falling behind them.

    A table that grows from empty to a million rows within one import has no statistics, or those of
    the empty table, until autovacuum analyzes it, and autovacuum may be off or slower than the
    import. PostgreSQL then plans a lookup of 900 e-mail addresses as a scan of every address (80 ms
    at 800,000 addresses instead of 2): the import slowed with every row it wrote. The caller reports
    the rows it adds with `added(n)` between transactions; each time the tables have grown by half
    since their last statistics (and by at least `minimum` rows), they are analyzed: a dozen times
    while a table grows from empty to a million rows, each a sample of at most 30,000 rows.

    SQLite needs nothing: its planner uses these indexes without statistics, and its ANALYZE would
    read every row each time.
    """

    def __init__(self, *models, minimum=5000, growth=0.5):
        self.models = models
        self.minimum = minimum
        self.growth = growth
        self.size = None  # rows in the first table at the last statistics, as PostgreSQL estimated them
        self.pending = 0
        self.refreshed = 0

    def added(self, rows):
        db = connections[DEFAULT_DB_ALIAS]
        if db.vendor != "postgresql" or not self.models:
            return
        if self.size is None:
            self.size = self._estimate(db)
        self.pending += rows
        if self.pending >= max(self.minimum, self.growth * self.size):
            refresh_statistics(*self.models)
            self.size = self._estimate(db)
            self.pending = 0
            self.refreshed += 1

    def _estimate(self, db):
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                [db.ops.quote_name(self.models[0]._meta.db_table)],
            )
            row = cursor.fetchone()
        return max(0, int(row[0])) if row else 0  # -1: never analyzed


class CompiledQuery:
    """A queryset compiled by the ORM once, to run again with other values in the places of its markers."""

    # Building and compiling a query took the ORM longer than the database took to run it. `markers`
    # are values the queryset was built with, each of which must appear exactly once among its
    # parameters. The rows are the model's own columns (all, or those only() names: no select_related
    # or annotations), made into instances as the ORM's own iterator makes them (`from_db` after the
    # same converters) or into Row objects.

    def __init__(self, db, queryset, markers):
        compiler = queryset.query.get_compiler(connection=db)
        sql, params = compiler.as_sql()
        params = list(params)
        if any(params.count(marker) != 1 for marker in markers):
            raise RuntimeError(f"{queryset.model.__name__}: markers {markers!r} not each once in {params!r}")
        columns = [expression for expression, _sql, _alias in compiler.select]
        attnames = [getattr(column, "target", None) and column.target.attname for column in columns]
        fields = [field.attname for field in queryset.model._meta.concrete_fields]
        if not attnames or attnames != [name for name in fields if name in attnames]:
            raise RuntimeError(f"{queryset.model.__name__}: unexpected columns {attnames!r}")
        self.model = queryset.model
        self.sql = sql
        self._params = params
        self._slots = [params.index(marker) for marker in markers]
        self._attnames = attnames
        self._converters = [
            (index, [_quicker_converter(db, function) for function in functions], expression)
            for index, (functions, expression) in compiler.get_converters(columns).items()
        ]

    def params(self, values):
        """The parameters of the SQL with `values` in the markers' places."""
        params = self._params.copy()
        for slot, value in zip(self._slots, values, strict=True):
            params[slot] = value
        return params

    def instances(self, db, rows):
        """Model instances of rows that the SQL fetched."""
        alias, from_db, attnames = db.alias, self.model.from_db, self._attnames
        return [from_db(alias, attnames, values) for values in self._converted(db, rows)]

    def rows(self, db, rows):
        """Row objects of rows that the SQL fetched (a seventh of the cost of model instances)."""
        attnames = self._attnames
        return [Row(zip(attnames, values, strict=True)) for values in self._converted(db, rows)]

    def _converted(self, db, rows):
        """Each row's values after their fields' converters (Python values from the database's)."""
        converters = self._converters
        if not converters:
            return rows
        converted = []
        for row in rows:
            values = list(row)
            for index, functions, expression in converters:
                value = values[index]
                for function in functions:
                    value = function(value, expression, db)
                values[index] = value
            converted.append(values)
        return converted

    def run(self, values):
        """The instances found with `values` in the markers' places, on the default database."""
        db = connections[DEFAULT_DB_ALIAS]
        return self.instances(db, fetch_each(db, [(self.sql, self.params(values))])[0])


def _quicker_converter(db, function):
    """A quicker stand-in giving the same values for some of Django's converters, else the converter."""
    if db.vendor == "sqlite" and function == db.ops.convert_datetimefield_value:
        return _sqlite_datetime
    return function


def _sqlite_datetime(value, expression, connection):
    """SQLite's convert_datetimefield_value, quicker for the naive datetimes sqlite3 has already parsed."""
    # Django registers the parser with sqlite3; its converter then only makes them aware, in the
    # connection's zone, through checks that took a tenth of a list of people
    if type(value) is datetime.datetime and value.tzinfo is None and settings.USE_TZ:
        return value.replace(tzinfo=connection.timezone)  # what timezone.make_aware does
    return connection.ops.convert_datetimefield_value(value, expression, connection)


class Row:
    """A fetched row's values as attributes named as the model's fields' attnames, for reading only."""

    # What a model instance's fields would hold, without its methods and descriptors: a country
    # field's value is the code, not a Country

    def __init__(self, items):
        self.__dict__.update(items)

    def __repr__(self):
        return f"Row({self.__dict__!r})"


_COMPILED = {}  # (caller's key, database vendor) -> CompiledQuery
_COMPILED_MAX = 1000  # a bound, not a working size: keys are kinds of query (times scopes of actors)


def compiled_query(key, build, markers):
    """The CompiledQuery of `build(*markers)` on the default database, compiled the first time for `key`."""
    # Every queryset that `build` could make for this key must differ only in the markers' values:
    # the key names all else the query depends on (for a scoped query, the actor's scope).
    db = connections[DEFAULT_DB_ALIAS]  # the thread's connection itself: the proxy costs per access
    full_key = (key, db.vendor)
    query = _COMPILED.get(full_key)
    if query is None:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        query = _COMPILED[full_key] = CompiledQuery(db, build(*markers), markers)
    return query


def stand_in_ids(count):
    """`count` distinct integers that no id is, to stand for ids while a query is compiled."""
    return [-1 - n for n in range(count)]


ROWS_FOR_MAX = 200  # the largest page of any list; more ids are fetched through the ORM as usual


def rows_for_each(requests, as_rows=False):
    """For each (model, fk_attname, ids[, only]) of `requests`: the rows whose `fk_attname` is in `ids`."""
    # In the model's default order; with only the fields (attnames) `only` names, if given; as model
    # instances or, with `as_rows`, Row objects (cheaper to make, for rows that are only read;
    # instances all the same beyond ROWS_FOR_MAX ids).
    # What Django's prefetch_related does, without compiling the same query on every request: the
    # ORM compiles it once per number of ids (a CompiledQuery), and each call runs that SQL with the
    # ids as its parameters. On PostgreSQL the queries go to the server together and come back
    # together (psycopg's pipeline mode): one round trip for a person's five kinds of details.
    # The caller scopes: use it only for rows every reader of their owner may see.
    db = connections[DEFAULT_DB_ALIAS]
    results = [None] * len(requests)
    queued = []  # (index in requests, CompiledQuery, ids)
    for index, (model, fk_attname, ids, *only) in enumerate(requests):
        ids = list(dict.fromkeys(ids))
        only = tuple(only[0]) if only and only[0] is not None else None

        def matching(*ids, model=model, fk_attname=fk_attname, only=only):
            found = model._default_manager.filter(**{f"{fk_attname}__in": ids})
            return found if only is None else found.only(*only)

        if not ids:
            results[index] = []
        elif len(ids) > ROWS_FOR_MAX:
            results[index] = list(matching(*ids))
        else:
            key = ("rows_for_each", model, fk_attname, len(ids), only)
            query = compiled_query(key, matching, stand_in_ids(len(ids)))
            queued.append((index, query, ids))
    fetched = fetch_each(db, [(query.sql, query.params(ids)) for _index, query, ids in queued])
    for (index, query, _ids), rows in zip(queued, fetched, strict=True):
        results[index] = query.rows(db, rows) if as_rows else query.instances(db, rows)
    return results


def fetch_each(db, statements):
    """Every row of each (sql, params) in `statements`, run on `db` in order."""
    # PostgreSQL: in one round trip when there are several (pipeline mode), and prepared by the server
    # once per connection when the connection allows it (see _statement_cursor). Each still goes through
    # Django's cursor wrapper, so it is logged and counted like any query, and errors are Django's.
    if db.vendor != "postgresql":
        fetched = []
        with db.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
                fetched.append(cursor.fetchall())
        return fetched
    cursors = [_statement_cursor(db) for _statement in statements]
    try:
        if len(statements) > 1 and _pipelines_supported():
            with db.wrap_database_errors, db.connection.pipeline():
                for cursor, (sql, params) in zip(cursors, statements, strict=True):
                    cursor.execute(sql, params)
        else:
            for cursor, (sql, params) in zip(cursors, statements, strict=True):
                cursor.execute(sql, params)
        return [cursor.fetchall() for cursor in cursors]
    finally:
        for cursor in cursors:
            cursor.close()


def _statement_cursor(db):
    """A Django cursor on PostgreSQL whose statements the server prepares, if the connection allows it."""
    # Planning took the server most of its time for these short reads (a token, a person, their
    # details: 150-350 µs a statement, 40-85 once prepared). Django's cursors bind parameters on the
    # client, which cannot be prepared; this one binds them on the server, and psycopg prepares a
    # statement once it ran prepare_threshold times on the connection (config.database, off with
    # KINFOLK_DATABASE_PREPARED=0). Only the ORM-compiled SQL of this module's callers runs here.
    if db.settings_dict["OPTIONS"].get("prepare_threshold") is None:
        return db.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    # What db.cursor() does around the cursor it opens
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    cursor = ServerBindingCursor(db.connection)
    if db.timezone is datetime.UTC:
        # Django reads timestamptz values with psycopg's loader written in Python, then gives them its
        # zone (10 µs a value, a sixth of a list of people); psycopg's own loader, in C, gives the
        # same datetimes (in UTC) in a twentieth of the time
        cursor.adapters.register_loader("timestamptz", _timestamptz_loader())
    return _LoggedStatementCursor(cursor, db) if db.queries_logged else db.make_cursor(cursor)


@functools.cache
def _timestamptz_loader():
    """psycopg's own loader of timestamptz values in text (its C one where installed)."""
    import psycopg

    return psycopg.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, psycopg.pq.Format.TEXT)


class _LoggedStatementCursor(CursorDebugWrapper):
    """Django's logging cursor wrapper, logging each statement with its parameters filled in, as Django does."""

    # Django logs the text psycopg keeps of the last query, and psycopg keeps none of a prepared one

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params), params):
            return CursorWrapper.execute(self, sql, params)


@functools.cache
def _pipelines_supported():
    import psycopg

    return psycopg.Pipeline.is_supported()


def drop_index(model_label, field_name):
    """A migration step that drops the single-column index(es) of a field whose db_index became False.

    Django alters such a field on SQLite by copying the whole table: hours for a change record table of
    tens of millions of rows, for what is one DROP INDEX on either database. Pair it with the field's
    AlterField in SeparateDatabaseAndState(state_operations=…); reversing it creates the index again.
    """
    from django.db import migrations

    def indexes(schema_editor, model):
        column = model._meta.get_field(field_name).column
        return schema_editor._constraint_names(model, [column], index=True, unique=False, primary_key=False)

    def forwards(apps, schema_editor):
        model = apps.get_model(model_label)
        for name in indexes(schema_editor, model):
            schema_editor.execute(schema_editor._delete_index_sql(model, name))

    def backwards(apps, schema_editor):
        model = apps.get_model(model_label)
        if not indexes(schema_editor, model):
            field = model._meta.get_field(field_name)
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))

    return migrations.RunPython(forwards, backwards, elidable=False)


def update_rows(model, fields, objs):
    """UPDATE the named fields of each object by its primary key: one statement, executed for them all.

    What bulk_update writes, without its CASE WHEN id = … expression, which the database evaluates
    branch by branch for every row (500 branches a statement): a batch of updates costs one
    prepared statement run per row instead.
    """
    objs = list(objs)
    if not objs:
        return
    db = connections[DEFAULT_DB_ALIAS]
    opts = model._meta
    columns = [opts.get_field(name) for name in fields]
    quote = db.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in columns)
    sql = f"UPDATE {quote(opts.db_table)} SET {assignments} WHERE {quote(opts.pk.column)} = %s"  # noqa: S608 (a model's names)
    params = [
        [f.get_db_prep_save(getattr(o, f.attname), connection=db) for f in columns] + [o.pk] for o in objs
    ]
    with db.cursor() as cursor:
        cursor.executemany(sql, params)
