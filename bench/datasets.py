"""The benchmark's data sets: generated once per scale and database (seeded), cached under var/bench/.

- the demo organisation (`kinfolk.demo.generator`: people with planted duplicates and their ground
  truth, organisations, a timeline of ACTIVITIES_PER_PERSON items per person on average: 10M at 1M
  people) plus one person with 200 notes, in a database of its own per
  scale: SQLite in var/bench/<scale>-sqlite/, PostgreSQL in the database <prefix>_<scale>;
- the messy CSV of the import benchmark (`bench.import_bench.generate`), var/bench/csv/;
- an empty database the import benchmark may wipe: var/bench/import-sqlite/ or <prefix>_import;
- a scratch copy of the demo database for the API part, whose bulk upserts add people.

A data set is complete when its home holds `dataset.json` (written last) made with the generator
settings below; one without it, or made with other settings, is made again from nothing. Nothing here imports Django: the orchestrator sets each part's environment.
"""

import json
import os
import shutil
from pathlib import Path

from bench.core import scale_label

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/"
MARKER = "dataset.json"
ACTIVITIES_PER_PERSON = 10  # timeline items per person on average (0 to 20 each)


def postgres_base():
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES).rstrip("/") + "/"


def postgres_prefix():
    return os.environ.get("BENCH_POSTGRES_PREFIX", "kf_bn")


def home(data_dir, people, db, role="data"):
    name = {"data": scale_label(people), "scratch": f"{scale_label(people)}-scratch", "import": "import"}[
        role
    ]
    return Path(data_dir) / f"{name}-{db}"


def database_name(people, role="data"):
    suffix = {"data": scale_label(people), "scratch": f"{scale_label(people)}_scratch", "import": "import"}[
        role
    ]
    return f"{postgres_prefix()}_{suffix}"


def environment(data_dir, people, db, role="data"):
    """The KINFOLK_* variables of a part's process."""
    path = home(data_dir, people, db, role)
    path.mkdir(parents=True, exist_ok=True)
    env = {
        "KINFOLK_HOME": str(path.resolve()),
        "KINFOLK_DATABASE_URL": postgres_base() + database_name(people, role) if db == "postgresql" else "",
        "KINFOLK_DEBUG": "0",
        "KINFOLK_HTTPS": "0",
        "KINFOLK_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "KINFOLK_API_RATE_LIMIT": "1000000000",
        "DJANGO_SETTINGS_MODULE": "kinfolk.settings",
    }
    return env


def is_ready(data_dir, people, db):
    marker = read_marker(data_dir, people, db)
    return marker is not None and marker.get("activities_per_person") == ACTIVITIES_PER_PERSON


def read_marker(data_dir, people, db):
    path = home(data_dir, people, db) / MARKER
    return json.loads(path.read_text()) if path.exists() else None


def reset(data_dir, people, db, role="data"):
    """An empty database for a data set about to be made (again)."""
    path = home(data_dir, people, db, role)
    for name in (
        MARKER,
        "kinfolk.sqlite3",
        "kinfolk.sqlite3-wal",
        "kinfolk.sqlite3-shm",
        "demo-duplicates.csv",
    ):
        (path / name).unlink(missing_ok=True)
    if db == "postgresql":
        recreate_postgres(database_name(people, role))


def recreate_postgres(name, template=None):
    """Drop and create a PostgreSQL database kept for benchmarks (never any other: the names are ours)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(postgres_base() + "postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if template:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def ensure_import_database(data_dir, db):
    path = home(data_dir, 0, db, "import")
    path.mkdir(parents=True, exist_ok=True)
    if db == "postgresql":
        import psycopg
        from psycopg import sql

        name = database_name(0, "import")
        with psycopg.connect(postgres_base() + "postgres", autocommit=True, connect_timeout=10) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def make_scratch(data_dir, people, db):
    """A fresh copy of the demo database for a part that writes (the API's bulk upserts)."""
    source, target = home(data_dir, people, db), home(data_dir, people, db, "scratch")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in ("secret_key", "demo-duplicates.csv", MARKER):
        if (source / name).exists():
            shutil.copy(source / name, target / name)
    if db == "sqlite":
        _sqlite_backup(source / "kinfolk.sqlite3", target / "kinfolk.sqlite3")  # WAL included
    else:
        recreate_postgres(database_name(people, "scratch"), template=database_name(people))


def _sqlite_backup(source, target):
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


def drop_scratch(data_dir, people, db):
    shutil.rmtree(home(data_dir, people, db, "scratch"), ignore_errors=True)
    if db == "postgresql":
        import psycopg
        from psycopg import sql

        with psycopg.connect(postgres_base() + "postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(database_name(people, "scratch"))
                )
            )


def csv_path(data_dir, rows, seed=1):
    """The messy import CSV of `rows` rows, generated once per size and seed."""
    from bench.import_bench import generate

    path = Path(data_dir) / "csv" / f"people-{scale_label(rows)}-seed{seed}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        generate(partial, rows, seed=seed)
        partial.rename(path)
    return path
