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
