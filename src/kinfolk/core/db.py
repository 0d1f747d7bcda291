"""Database-specific helpers: the one place where SQLite and PostgreSQL are told apart."""

from contextlib import contextmanager

from django.db import connection, transaction


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


# Compiled SQL of rows_for, per (model, foreign key, number of ids, database vendor).
_ROWS_FOR_SQL = {}
ROWS_FOR_MAX = 200  # the largest page of any list; more ids are fetched through the ORM as usual


def rows_for(model, fk_attname, ids):
    """The rows of `model` whose `fk_attname` is one of `ids`, in the model's default order.

    What Django's prefetch_related does, without compiling the same query on every request: the ORM
    compiles it once per number of ids (ordering, columns, quoting), and each call runs that SQL with
    the ids as its parameters through a raw queryset, which converts the values as the ORM does.
    The caller scopes: use it only for rows every reader of their owner may see.
    """
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    if len(ids) > ROWS_FOR_MAX:
        return list(model._default_manager.filter(**{f"{fk_attname}__in": ids}))
    key = (model, fk_attname, len(ids), connection.vendor)
    sql = _ROWS_FOR_SQL.get(key)
    if sql is None:
        markers = [-1 - n for n in range(len(ids))]  # distinct, so that the IN list keeps every placeholder
        query = model._default_manager.filter(**{f"{fk_attname}__in": markers}).query
        sql, params = query.sql_with_params()
        if list(params) != markers:
            raise RuntimeError(f"{model.__name__} by {fk_attname}: unexpected parameters {params!r}")
        _ROWS_FOR_SQL[key] = sql
    return list(model._default_manager.raw(sql, ids))
