"""BottleCRM (`django-crm` on PyPI) as the peer CRM of the api part: its REST API served the same way
as Kinfolk's, on the same people, measured by the same load generator (`python -m bench --peers`).

BottleCRM is a Django REST framework CRM of its own (Python >= 3.12, PostgreSQL only, tenants isolated
by row-level security). bench/setup_peers.sh installs the pinned release into bench/.venv-bottlecrm.
Here, in the api part's process:

1. Kinfolk's people (the api part's copy of the data set) are written to a CSV: names, first email,
   phone, postal address, organisation and title.
2. A PostgreSQL database `<BENCH_POSTGRES_PREFIX>_bottlecrm` is made from a migrated template
   (`..._bottlecrm_empty`, migrated once per release: its migrations take more than a minute of CPU)
   and bench/bottlecrm_load.py, run in BottleCRM's environment, makes an organisation, its
   administrator, a personal access token and one contact per person (ORM `bulk_create`).
3. gunicorn serves BottleCRM (`crm.wsgi`, sync workers, as many as Kinfolk's) as a role that is not a
   superuser (`..._bottlecrm_app`): BottleCRM's documentation requires one, since a superuser skips
   the row-level security every query of a deployment pays for. Its documented connection pool is on
   (DB_POOL_ENABLED; Kinfolk keeps its connections too), Celery's broker is Redis db 6 (nothing is
   queued by these requests), DEBUG is off.
4. The same GET measurement as Kinfolk's: one contact (`/api/contacts/<id>/`) and a page of 50
   (`/api/contacts/?limit=50`), 16 clients; then BottleCRM's bulk path, its CSV import
   (`/api/contacts/import/commit/`, one request): 1,000 new contacts, and the same file again, which
   it checks row by row and refuses as existing contacts (it has no upsert: nothing is updated).

The figures become the references of Kinfolk's api figures; when BottleCRM cannot run here, one
figure without samples says why.
"""

import csv
import io
import json
import os
import secrets
import subprocess
import time
import traceback
from pathlib import Path
from urllib.parse import urlsplit

from bench.api_bench import Server, request

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-bottlecrm"
PYTHON = VENV / "bin" / "python"
NAME = "BottleCRM"


def unavailable():
    """Why BottleCRM cannot be measured on this machine, or None."""
    if not PYTHON.exists():
        return (
            f"{VENV.relative_to(HERE.parent)} is missing: run bench/setup_peers.sh (it needs Python >= 3.12)"
        )
    check = subprocess.run(
        [str(PYTHON), "-c", "import importlib.metadata as m, crm; print(m.version('django-crm'))"],
        capture_output=True,
        text=True,
        check=False,
    )
    if check.returncode != 0:
        return f"django-crm does not import in {VENV.name}: {check.stderr.strip()[-300:]}"
    return None


def version():
    done = subprocess.run(
        [str(PYTHON), "-c", "import importlib.metadata as m; print(m.version('django-crm'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def export_people(path, last_person=None):
    """Kinfolk's people (up to the primary key last_person: the data set's, not those the api part's
    upserts added) as BottleCRM contacts would hold them, one CSV row each; returns the count."""
    from django.db.models import OuterRef, Subquery

    from bench.worker import admin_user
    from kinfolk.people.models import Affiliation, EmailAddress, Person, PhoneNumber, PostalAddress

    def first(model, field):
        rows = model.objects.filter(person=OuterRef("pk")).order_by("-is_primary", "id")
        return Subquery(rows.values(field)[:1])

    columns = {
        "email": first(EmailAddress, "email"),
        "phone": first(PhoneNumber, "number"),
        "organisation": first(Affiliation, "organisation__name"),
        "title": first(Affiliation, "title"),
        "street": first(PostalAddress, "street"),
        "city": first(PostalAddress, "locality"),
        "region": first(PostalAddress, "region"),
        "postcode": first(PostalAddress, "postal_code"),
        "country": first(PostalAddress, "country"),
    }
    people = Person.objects.visible_to(admin_user())
    if last_person is not None:
        people = people.filter(pk__lte=last_person)
    people = (
        people.annotate(**{f"export_{name}": value for name, value in columns.items()})
        .order_by("pk")
        .values_list("given_name", "family_name", *(f"export_{name}" for name in columns))
    )
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["given_name", "family_name", *columns])
        for row in people.iterator(chunk_size=5000):
            writer.writerow(["" if value is None else value for value in row])
            count += 1
    return count


def _admin(sql_list, dbname="postgres"):
    """Statements run by the benchmark's PostgreSQL user (autocommit: CREATE DATABASE needs it)."""
    import psycopg

    from bench.datasets import postgres_base

    with psycopg.connect(postgres_base() + dbname, autocommit=True) as conn:
        results = []
        for sql, params in sql_list:
            cursor = conn.execute(sql, params)
            results.append(cursor.fetchall() if cursor.description else None)
        return results


def _ident(name):
    from psycopg import sql

    return sql.Identifier(name)


class PeerServer(Server):
    """gunicorn serving BottleCRM from its own environment and folder: the api part's Server (same
    workers, same wait and stop) with BottleCRM's command; its output goes to gunicorn.log there."""

    def __init__(self, workers, *, cwd, env):
        super().__init__(workers)
        self.cwd, self.env, self.log = Path(cwd), env, None

    def __enter__(self):
        self.log = open(self.cwd / "gunicorn.log", "w")  # noqa: SIM115 (closed in __exit__)
        command = [str(VENV / "bin" / "gunicorn"), "crm.wsgi:application", "--workers", str(self.workers),
                   "--bind", f"127.0.0.1:{self.port}", "--timeout", "600", "--log-level", "warning"]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=self.cwd, env=self.env, stdout=self.log, stderr=self.log)
        return self

    def __exit__(self, *exc):
        try:
            if self.process.poll() is None:
                super().__exit__(*exc)
        finally:
            self.log.close()

    def log_tail(self):
        return (self.cwd / "gunicorn.log").read_text(errors="replace")[-600:]


class BottleCRM:
    """BottleCRM's database (made from the migrated template), its contacts, and gunicorn serving it."""

    def __init__(self, ctx, *, workers, people_csv):
        from bench.datasets import postgres_base, postgres_prefix

        self.ctx = ctx
        self.workers = workers
        self.people_csv = Path(people_csv).resolve()
        self.database = f"{postgres_prefix()}_bottlecrm"
        self.template = f"{self.database}_empty"
        self.role = f"{self.database}_app"
        self.role_password = secrets.token_urlsafe(24)
        self.home = (Path(ctx.data_dir) / "bottlecrm").resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.version = version()
        url = urlsplit(postgres_base())
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("KINFOLK_", "DJANGO_", "PYTHON"))},
            "DJANGO_SETTINGS_MODULE": "crm.settings",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "ENV_TYPE": "dev",  # "prod" requires AWS (SES, S3) and Sentry settings
            "DEBUG": "False",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DBNAME": self.database,
            "DBUSER": url.username or "postgres",
            "DBPASSWORD": url.password or "",
            "DBHOST": url.hostname or "127.0.0.1",
            "DBPORT": str(url.port or 5432),
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/6",
            "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/6",
            "IMPORT_THROTTLE": "1000000/minute",
        }
        self.server = None
        self.token = self.contact = None

    def _run(self, *args, env=None):
        done = subprocess.run(
            [str(PYTHON), *args],
            cwd=self.home,
            env=env or self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {(done.stderr or done.stdout).strip()[-600:]}")
        return done.stdout

    def _template(self):
        """The migrated, empty database, made again when the installed release differs."""
        from psycopg import sql

        comment = f"django-crm {self.version}, migrated"
        exists = _admin([("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                          [self.template])])[0]  # fmt: skip
        if exists and exists[0][0] == comment:
            return
        self.ctx.log(f"{NAME} {self.version}: migrating its template database {self.template}")
        started = time.perf_counter()
        _admin([(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(self.template)), None),
                (sql.SQL("CREATE DATABASE {}").format(_ident(self.template)), None)])  # fmt: skip
        self._run(
            "-m", "django", "migrate", "--no-input", "-v", "0", env={**self.env, "DBNAME": self.template}
        )
        _admin(
            [
                (
                    sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                        _ident(self.template), sql.Literal(comment)
                    ),
                    None,
                )
            ]
        )
        self.ctx.log(f"{NAME}: migrated in {time.perf_counter() - started:.0f} s")

    def __enter__(self):
        try:
            return self._start()
        except BaseException:
            self.__exit__()
            raise

    def _start(self):
        from psycopg import sql

        self._template()
        _admin([(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(self.database)), None),
                (sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(_ident(self.database), _ident(self.template)),
                 None)])  # fmt: skip
        role = _ident(self.role)
        _admin(
            [
                (
                    sql.SQL(
                        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {}) THEN "
                        "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$"
                    ).format(sql.Literal(self.role), role),
                    None,
                ),
                # a new password each run, for a server whose authentication is not `trust`
                (sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(self.role_password)), None),
                (sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(_ident(self.database), role), None),
            ]
        )
        _admin(
            [
                (sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role), None),
                (sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(role),
                 None),
                (sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(role), None),
            ],
            dbname=self.database,
        )  # fmt: skip
        loaded = json.loads(self._run(str(HERE / "bottlecrm_load.py"), str(self.people_csv)).splitlines()[-1])
        self.token, self.contact = loaded["token"], loaded["contact"]
        self.ctx.log(
            f"{NAME}: {loaded['contacts']:,} contacts loaded ({loaded['with_email']:,} with an email) "
            f"in {loaded['seconds']} s"
        )
        serve_env = {
            **self.env,
            "DBUSER": self.role,
            "DBPASSWORD": self.role_password,
            "DB_POOL_ENABLED": "true",
            "DB_POOL_MIN_SIZE": "1",
            "DB_POOL_MAX_SIZE": "2",
        }
        self.server = PeerServer(self.workers, cwd=self.home, env=serve_env).__enter__()
        try:
            self.server.wait(f"/api/contacts/{self.contact}/", self.headers)
        except RuntimeError as exc:
            raise RuntimeError(f"{NAME}: {exc}: {self.server.log_tail()}") from exc
        return self

    @property
    def port(self):
        return self.server.port

    @property
    def headers(self):
        return {"Host": "127.0.0.1", "Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    def __exit__(self, *exc):
        from psycopg import sql

        if self.server is not None:
            self.server.__exit__()
        _admin([(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(_ident(self.database)), None)])

    def import_csv(self, rows, mapping=None):
        """POST rows to the CSV import (one request): (seconds, status, answer)."""
        text = io.StringIO()
        csv.writer(text).writerows(rows)
        data = text.getvalue().encode()
        boundary = secrets.token_hex(16)
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="contacts.csv"\r\n'
            f"Content-Type: text/csv\r\n\r\n".encode()
            + data
            + b"\r\n"
        ]
        if mapping is not None:
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="mapping"\r\n\r\n{mapping}\r\n'.encode()
            )
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers = {**self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
        started = time.perf_counter()
        status, answer = request(self.port, "POST", "/api/contacts/import/commit/", headers, body=body)
        return time.perf_counter() - started, status, answer


def measure(ctx, *, workers, measure_get, seconds, bulk_size, last_person=None):
    """BottleCRM's figures, keyed as Kinfolk's api figures are: {label: samples}, or {"error": why}."""
    import psycopg

    reason = unavailable()
    if reason:
        return {"error": reason}
    home = Path(ctx.data_dir) / "bottlecrm"
    home.mkdir(parents=True, exist_ok=True)
    people_csv = home / "people.csv"
    count = export_people(people_csv, last_person)
    ctx.log(f"{NAME}: {count:,} people exported for its contacts")
    try:
        with BottleCRM(ctx, workers=workers, people_csv=people_csv) as peer:
            out = {"version": peer.version}
            for label, path in (("GET one person", f"/api/contacts/{peer.contact}/"),
                                ("GET list of 50 people", "/api/contacts/?limit=50")):  # fmt: skip
                rates, _p50s, p95s, alone, errors = measure_get(
                    peer.port, path, peer.headers, repeat=ctx.repeat, seconds=seconds
                )
                out[label] = {"rates": rates, "p95s": p95s, "alone": alone, "errors": errors}
            new, matched = [], []
            for i in range(ctx.repeat):
                tag = f"bench-{int(time.time())}-{i}"
                rows = [["first_name", "last_name", "email", "phone"]] + [
                    # a phone of its own per row and run: BottleCRM's import refuses a file with a known phone
                    [
                        f"Bench{n}",
                        "Person",
                        f"{tag}-{n}@example.org",
                        f"+44 20 7{i % 1000:03d} {n % 10000:04d}",
                    ]
                    for n in range(bulk_size)
                ]
                elapsed, status, answer = peer.import_csv(rows)
                result = json.loads(answer) if answer.startswith(b"{") else {}
                if status != 200 or result.get("created") != bulk_size:
                    raise RuntimeError(f"{NAME}'s CSV import answered {status}: {answer[:300]!r}")
                new.append(bulk_size / elapsed)
                # The same file again, in the import's matching mode (it skips existing contacts rather
                # than refusing the file): every row is found to exist, nothing is written.
                elapsed, status, answer = peer.import_csv(rows, mapping="auto")
                result = json.loads(answer) if answer.startswith(b"{") else {}
                if result.get("created", 0) != 0 or len(result.get("skipped", [])) != bulk_size:
                    raise RuntimeError(
                        f"{NAME}'s CSV import of known contacts answered {status}: {answer[:300]!r}"
                    )
                matched.append(bulk_size / elapsed)
                ctx.log(
                    f"{NAME} CSV import {i + 1}/{ctx.repeat}: {new[-1]:,.0f} new/s, {matched[-1]:,.0f} known/s"
                )
            out["bulk new"], out["bulk matched"] = new, matched
            return out
    except (RuntimeError, OSError, psycopg.Error) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def attach(ctx, figures, *, workers, measure_get, seconds, bulk_size, last_person=None):
    """Measure BottleCRM and make its figures the references of Kinfolk's api figures (in place);
    returns the figures to add: its one-client latencies, or one saying why it could not be measured."""
    from bench.api_bench import SLOW_WINDOW
    from bench.core import Figure

    try:
        peer = measure(
            ctx,
            workers=workers,
            measure_get=measure_get,
            seconds=seconds,
            bulk_size=bulk_size,
            last_person=last_person,
        )
    except Exception as exc:  # noqa: BLE001 (the peer failing must not cost Kinfolk's own figures)
        traceback.print_exc()
        peer = {"error": f"{type(exc).__name__}: {exc}"}
    if "error" in peer:
        ctx.log(f"{NAME}: not measured: {peer['error']}")
        return [Figure("api", f"{NAME} (peer CRM)", "", [], note=f"not measured: {peer['error']}")]
    name = f"{NAME} {peer['version']}"
    where = f"{workers} sync workers, its PostgreSQL"
    references, alone = {}, []
    for label, what in (("GET one person", "GET one contact"), ("GET list of 50 people", "GET 50 contacts")):
        if not any(peer[label]["rates"]):
            # not one request ended inside the load generator's window, even the long one: say so, as
            # no value (a rate of 0 with latencies of 0 ms would read as instant)
            slow = f"no request ended within the {SLOW_WINDOW:.0f} s window"
            alone.append(Figure("api", f"{name} (peer): {what}, one client alone, p50", "ms", [], note=slow))
            references[f"{label}, throughput"] = (f"{name}: {what} ({where}): {slow}", [])
            references[f"{label}, p95"] = (f"{name}: {what}, p95: {slow}", [])
            continue
        # its latency without queueing, beside Kinfolk's "one client alone": the figure least moved by load
        alone.append(
            Figure("api", f"{name} (peer): {what}, one client alone, p50", "ms", peer[label]["alone"])
        )
        errors = peer[label]["errors"]
        failed = f", {errors} failed" if errors else ""
        references[f"{label}, throughput"] = (f"{name}: {what} ({where}{failed})", peer[label]["rates"])
        references[f"{label}, p95"] = (f"{name}: {what}, p95", peer[label]["p95s"])
    references[f"bulk upsert of {bulk_size:,} new people"] = (
        f"{name}: CSV import of {bulk_size:,} new contacts, one request",
        peer["bulk new"],
    )
    references[f"bulk upsert of {bulk_size:,} people, all matched"] = (
        f"{name}: the same CSV again, every row found to exist and skipped (it has no upsert)",
        peer["bulk matched"],
    )
    for figure in figures:
        if figure.name in references:
            figure.reference_name, figure.reference_samples = references[figure.name]
    return alone
