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
