"""Kinfolk as separate processes (the `kinfolk` command, workers) against a database of their own.

The database is the kind the suite runs on: a fresh SQLite file in a temporary KINFOLK_HOME, or,
when the suite runs on PostgreSQL, a fresh PostgreSQL database that is dropped afterwards.
"""

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

KINFOLK = str(Path(sys.executable).with_name("kinfolk"))


def _postgres_url():
    url = os.environ.get("KINFOLK_DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else ""


@contextlib.contextmanager
def kinfolk_install(home):
    """Yield a KinfolkInstall in `home` on a database of the suite's kind, removed afterwards."""
    base = _postgres_url()
    if not base:
        yield KinfolkInstall(home, database_url="")
        return
    import psycopg

    name = f"kinfolk_proc_{uuid.uuid4().hex[:12]}"
    server = base.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # name is generated above, never user input
    try:
        yield KinfolkInstall(home, database_url=f"{server}/{name}")
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class KinfolkInstall:
    """One Kinfolk installation: its environment, its commands, and direct reads of its database."""

    def __init__(self, home, *, database_url):
        self.home = Path(home)
        self.database_url = database_url

    def env(self, **extra):
        env = {
            **os.environ,
            "KINFOLK_HOME": str(self.home),
            "KINFOLK_DATABASE_URL": self.database_url,
            "KINFOLK_DEBUG": "0",
            "KINFOLK_REDIS_URL": "",
        }
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def run(self, *args, stdin=None, timeout=180, **extra_env):
        return subprocess.run(
            [KINFOLK, *args],
            env=self.env(**extra_env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
        )

    def start(self, *args, **extra_env):
        """Start a long-running command in its own process group (so that a kill takes its children).

        Its standard error (request logs, warnings, its children's too) goes to a file, read with
        `stderr_of(process)`: a pipe that no test reads would fill and block the process.
        """
        log_path = self.home / f"{args[0] if args else 'kinfolk'}-{uuid.uuid4().hex[:8]}.stderr"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [KINFOLK, *args],
                env=self.env(**extra_env),
                cwd=self.home,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        process.stderr_path = log_path
        return process

    @staticmethod
    def stderr_of(process, last=4000):
        """The end of what a started process (and its children) wrote to standard error so far."""
        return process.stderr_path.read_text(errors="replace")[-last:]

    @contextlib.contextmanager
    def started(self, *args, **extra_env):
        """As start(), and the process group is killed on the way out, whatever the test did."""
        process = self.start(*args, **extra_env)
        try:
            yield process
        finally:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            process.stdout.close()

    def query(self, sql, params=()):
        """Rows of a read-only query on the installation's database (fixed SQL from the tests)."""
        if self.database_url:
            import psycopg

            with psycopg.connect(self.database_url, autocommit=True) as conn:
                return conn.execute(sql.replace("?", "%s"), params).fetchall()
        with contextlib.closing(sqlite3.connect(self.home / "kinfolk.sqlite3", timeout=30)) as conn:
            return conn.execute(sql, params).fetchall()

    def value(self, sql, params=()):
        rows = self.query(sql, params)
        return rows[0][0] if rows else None
