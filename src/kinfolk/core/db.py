"""Database-specific helpers: the one place where SQLite and PostgreSQL are told apart."""

from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction


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


# Compiled SQL of rows_for, per (model, foreign key, number of ids, database vendor), with the
# columns' attribute names and their converters.
_ROWS_FOR_SQL = {}
ROWS_FOR_MAX = 200  # the largest page of any list; more ids are fetched through the ORM as usual


def rows_for(model, fk_attname, ids):
    """The rows of `model` whose `fk_attname` is one of `ids`, in the model's default order.

    What Django's prefetch_related does, without compiling the same query on every request: the ORM
    compiles it once per number of ids (ordering, columns, quoting, the converters of the columns'
    values), and each call runs that SQL with the ids as its parameters and makes the instances as
    the ORM's own iterator does (`from_db` after the same converters).
    The caller scopes: use it only for rows every reader of their owner may see.
    """
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    if len(ids) > ROWS_FOR_MAX:
        return list(model._default_manager.filter(**{f"{fk_attname}__in": ids}))
    db = connections[DEFAULT_DB_ALIAS]  # the thread's connection itself: the proxy costs per access
    key = (model, fk_attname, len(ids), db.vendor)
    compiled = _ROWS_FOR_SQL.get(key)
    if compiled is None:
        compiled = _ROWS_FOR_SQL[key] = _compile_rows_for(db, model, fk_attname, len(ids))
    sql, attnames, converters = compiled
    with db.cursor() as cursor:
        cursor.execute(sql, ids)
        rows = cursor.fetchall()
    alias, from_db = db.alias, model.from_db
    if not converters:
        return [from_db(alias, attnames, row) for row in rows]
    records = []
    for row in rows:
        values = list(row)
        for index, functions, expression in converters:
            value = values[index]
            for function in functions:
                value = function(value, expression, db)
            values[index] = value
        records.append(from_db(alias, attnames, values))
    return records


def _compile_rows_for(db, model, fk_attname, count):
    markers = [-1 - n for n in range(count)]  # distinct, so that the IN list keeps every placeholder
    query = model._default_manager.filter(**{f"{fk_attname}__in": markers}).query
    compiler = query.get_compiler(connection=db)
    sql, params = compiler.as_sql()
    if list(params) != markers:
        raise RuntimeError(f"{model.__name__} by {fk_attname}: unexpected parameters {params!r}")
    columns = [expression for expression, _sql, _alias in compiler.select]
    attnames = [column.target.attname for column in columns]
    if attnames != [field.attname for field in model._meta.concrete_fields]:
        raise RuntimeError(f"{model.__name__}: unexpected columns {attnames!r}")
    converters = [
        (index, functions, expression)
        for index, (functions, expression) in compiler.get_converters(columns).items()
    ]
    return sql, attnames, converters
