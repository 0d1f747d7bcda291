"""The `kinfolk` command: set up, serve, load demo data, manage users, run Django's management commands."""

import argparse
import os
import secrets
import sys


def _setup_django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kinfolk.settings")
    import django

    django.setup()


def _migrate(verbosity=0):
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=verbosity)


def _home():
    from django.conf import settings

    return settings.HOME


def cmd_init(args):
    """Create or upgrade the database; create an administrator if there is none."""
    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import User
    from kinfolk.access.services import do_create_user
    from kinfolk.core.context import acting

    _migrate(verbosity=1 if args.verbose else 0)
    print(f"Database ready: {_describe_database()}")
    if User.objects.filter(is_org_admin=True).exists():
        return 0
    password = args.admin_password or secrets.token_urlsafe(12)
    with acting("cli"):
        do_create_user(
            values={"username": args.admin_username, "is_org_admin": True}, password=password, actor=SYSTEM
        )
    print(f"Administrator created: username {args.admin_username!r}, password {password!r}")
    return 0


def _describe_database():
    from django.db import connection

    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite {settings['NAME']}"
    return f"PostgreSQL {settings.get('HOST') or 'local'}/{settings['NAME']}"


def cmd_demo(args):
    """Load a demo organisation (teams, people, organisations, relationships, activities)."""
    from kinfolk.core.context import acting
    from kinfolk.demo import generate

    _migrate()
    with acting("cli"):
        extra = (
            {}
            if args.activities_per_person is None
            else {"activities_per_person": args.activities_per_person}
        )
        summary = generate(
            people=args.people, seed=args.seed, progress=None if args.quiet else _progress, **extra
        )
    if not args.quiet:
        sys.stderr.write("\n")
    print(", ".join(f"{k}: {v}" for k, v in summary.items()))
    return 0


def _progress(done, total):
    sys.stderr.write(f"\r  {done:,} / {total:,} people")
    sys.stderr.flush()


def cmd_run(args):
    """Serve Kinfolk (development server); with --demo-on-first-run, a new database gets demo data."""
    from django.core.management import call_command

    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import User
    from kinfolk.access.services import do_create_user
    from kinfolk.core.context import acting

    _stop_on_signals()
    _migrate()
    login_file = _home() / "demo-login.txt"
    if args.demo_on_first_run and not User.objects.exists():
        password = secrets.token_urlsafe(12)
        with acting("cli"):
            admin = do_create_user(
                values={
                    "username": "admin",
                    "email": "admin@example.org",
                    "first_name": "Ada",
                    "last_name": "Admin",
                    "is_org_admin": True,
                },
                password=password,
                actor=SYSTEM,
            )
        login_file.write_text(f"admin {password}\n")
        login_file.chmod(0o600)
        print("First run: loading the demo organisation (a minute or so)…", flush=True)
        from kinfolk.demo import generate

        with acting("cli"):
            summary = generate(people=args.demo_people, seed=1, progress=_progress)
        sys.stderr.write("\n")
        print("Demo loaded: " + ", ".join(f"{k}: {v}" for k, v in summary.items()))
        # The demo plants duplicates: the background worker finds them, so that Duplicates has a queue.
        from kinfolk.identity.services import check_start_dedupe

        with acting("cli"):
            check_start_dedupe(actor=admin)
        print("Looking for duplicate people in the background (see Duplicates once it is done).")
    url = f"http://{args.host}:{args.port}/"
    print("\n" + "=" * 64)
    print(f"  Kinfolk is running at {url}")
    if login_file.exists():
        username, password = login_file.read_text().split()
        print(f"  Sign in as {username!r} with password {password!r}")
        print(f"  (kept in {login_file}; the demo users 'fundraiser', 'events' and 'partners' share it)")
    print("  Database: " + _describe_database())
    worker = None
    try:
        if not args.no_worker:
            worker = _start_worker()
        print("  Press Ctrl-C to stop.")
        print("=" * 64 + "\n", flush=True)
        with acting("ui"):
            call_command("runserver", f"{args.host}:{args.port}", use_reloader=False, use_threading=True)
    except KeyboardInterrupt:
        pass  # Ctrl-C before the server took over its handling: the same clean stop
    finally:
        if worker is not None:
            _stop(worker)
    return 0


def _stop_on_signals():
    """Ctrl-C (SIGINT) and a service manager's SIGTERM both stop the server through its `finally`,
    which stops the worker too. Set explicitly: a process started in the background by a shell
    without job control inherits SIGINT ignored, and Python then leaves Ctrl-C without effect."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def _start_worker():
    """A `kinfolk worker` beside the server, for imports and other background jobs."""
    import subprocess

    print("  A background worker runs imports, exports and other jobs.", flush=True)
    return subprocess.Popen([sys.executable, "-m", "kinfolk.cli", "worker", "--quiet"])


def _stop(process):
    """Stop a child process: politely first, then for good."""
    import subprocess

    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cmd_worker(args):
    """Run background jobs until stopped: the database queue, or Redis/RQ with KINFOLK_REDIS_URL."""
    import logging

    from kinfolk.core.jobs import run_worker, uses_database_queue

    _migrate()
    if not args.quiet:
        logging.getLogger("kinfolk").setLevel(logging.INFO)
        queue = "the database" if uses_database_queue() else "Redis"
        print(f"Kinfolk worker: running jobs from {queue}; Ctrl-C stops it.", flush=True)
    run_worker(batch=args.batch, quiet=args.quiet)
    return 0


def cmd_createuser(args):
    """Create a user; optionally an administrator, optionally with a role in a team."""
    import getpass

    from django.core.exceptions import ValidationError

    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import Team
    from kinfolk.access.services import check_add_member, check_create_user
    from kinfolk.core.context import acting

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = secrets.token_urlsafe(12)
        print(f"Generated password: {password}")
    try:
        with acting("cli"):
            user = check_create_user(
                data={"username": args.username, "email": args.email or "", "is_org_admin": args.admin},
                password=password,
                actor=SYSTEM,
            )
            if args.team:
                team = Team.objects.filter(slug=args.team).first()
                if team is None:
                    raise ValidationError({"team": [f"No team with short name {args.team!r}."]})
                check_add_member(team, user, role=args.role, actor=SYSTEM)
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            for message in messages:
                print(f"error: {field}: {message}", file=sys.stderr)
        return 2
    print(f"User {user.username!r} created.")
    return 0


def cmd_shell(args):
    """A Python shell with Kinfolk loaded; writes are recorded with source 'shell'."""
    from django.core.management import call_command

    from kinfolk.core.context import acting

    with acting("shell"):
        call_command("shell", *([] if args.command is None else ["-c", args.command]))
    return 0


def cmd_manage(args):
    """Run a Django management command: `kinfolk manage migrate`, `kinfolk manage check --deploy`."""
    from django.core.management import execute_from_command_line

    from kinfolk.core.context import acting

    with acting("cli"):
        execute_from_command_line(["kinfolk manage", *args.args])
    return 0


def _actor_for(username):
    """The acting user for --as USERNAME, else the system actor (sees everything)."""
    from django.core.exceptions import ValidationError

    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import User

    if not username:
        return SYSTEM
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"as": [f"No user {username!r}."]})
    return user


def _print_errors(exc):
    for field, messages in (
        exc.message_dict.items() if hasattr(exc, "error_dict") else [("error", exc.messages)]
    ):
        for message in messages:
            print(f"error: {field}: {message}", file=sys.stderr)


def cmd_import(args):
    """Import people from a CSV/TSV, XLSX, vCard or JSON Lines file; the last line is a JSON summary."""
    from django.core.exceptions import ValidationError

    from kinfolk.access.models import Team
    from kinfolk.core.context import acting
    from kinfolk.imports import services

    _migrate()
    if args.resume:
        return _resume_import(args)
    if not args.file:
        print("error: file: Name the file to import (or --resume IMPORT_ID).", file=sys.stderr)
        return 2
    try:
        with acting("cli"):
            actor = _actor_for(args.as_user)
            team = None
            if args.team:
                team = (
                    Team.objects.filter(slug=args.team).first() or Team.objects.filter(name=args.team).first()
                )
                if team is None:
                    raise ValidationError({"team": [f"No team with short name {args.team!r}."]})
            mapping, options = services.load_mapping(args.mapping) if args.mapping else (None, {})
            run = services.check_create_import(
                path=args.file,
                actor=actor,
                fmt=args.format,
                mapping=mapping,
                extra_mapping=services.parse_map_options(args.map),
                team=team,
                on_match=args.on_match or options.get("on_match", "update"),
                strict=args.strict,
                default_region=args.region or options.get("default_region", ""),
                date_order=args.date_order or options.get("date_order", "DMY"),
                dry_run=args.dry_run,
            )
    except ValidationError as exc:
        _print_errors(exc)
        return 2
    if not args.quiet:
        shown = {c: t for c, t in run.mapping.items() if t != "ignore"}
        print("Mapping: " + ", ".join(f"{c} -> {t}" for c, t in shown.items()), file=sys.stderr)

    return _run_and_finish(args, run.pk)


def _run_and_finish(args, import_id):
    from kinfolk.imports.engine import run_import

    try:
        run = run_import(import_id, batch_size=args.batch_size, progress=_import_progress(args))
    except Exception as exc:  # the run keeps its checkpoint and records the failure
        print(
            f"\nerror: import {import_id} stopped: {exc}\n"
            f"Rows up to the last checkpoint are imported; continue with: kinfolk import --resume {import_id}",
            file=sys.stderr,
        )
        return 1
    return _finish_import(args, run)


def _import_progress(args):
    def progress(state):
        if not args.quiet:
            sys.stderr.write(
                f"\r  {state.rows_done:,} rows ({state.created:,} created, {state.rejected:,} rejected)"
            )
            sys.stderr.flush()

    return progress


def _resume_import(args):
    """Run a stopped import again from its checkpoint (`kinfolk import --resume ID`)."""
    from kinfolk.imports.models import ImportRun

    if not ImportRun.objects.filter(pk=args.resume).exists():
        print(f"error: resume: No import {args.resume}.", file=sys.stderr)
        return 2
    return _run_and_finish(args, args.resume)


def _finish_import(args, run):
    import json

    from kinfolk.imports import services

    if not args.quiet:
        sys.stderr.write("\n")
    if run.rejected and args.errors:
        with open(args.errors, "w", newline="", encoding="utf-8") as f:
            services.write_error_report(run, f)
        print(f"Rejected rows with reasons: {args.errors}", file=sys.stderr)
    print(f"Import {run.pk}{' (preview, nothing written)' if run.dry_run else ''}: {run.rows_done:,} rows")
    print(json.dumps(run.summary()))
    return 0


def cmd_export(args):
    """Export people or organisations visible to a user as CSV, XLSX, vCard 4.0 or JSON Lines."""
    from django.core.exceptions import ValidationError

    from kinfolk.core.context import acting
    from kinfolk.imports.exports import write_export

    try:
        with acting("cli"):
            actor = _actor_for(args.as_user)
            filters = {"search": args.search}
            if args.kind == "people":
                filters.update(tag=args.tag, list_name=args.list)
            fmt = args.format or _format_from_name(args.output)
            if args.output and args.output != "-":
                with open(args.output, "wb") as f:
                    log = write_export(actor, f, kind=args.kind, fmt=fmt, filters=filters)
                print(f"Exported {log.rows:,} {args.kind} to {args.output}", file=sys.stderr)
            else:
                write_export(actor, sys.stdout.buffer, kind=args.kind, fmt=fmt, filters=filters)
    except ValidationError as exc:
        _print_errors(exc)
        return 2
    return 0


def cmd_dedupe(args):
    """Find duplicate candidates over the whole database; optionally write them to a CSV report."""
    from kinfolk.access.actors import SYSTEM
    from kinfolk.core.context import acting
    from kinfolk.identity.services import run_duplicate_detection, write_candidate_report

    _migrate()
    with acting("cli"):
        result = run_duplicate_detection(rebuild=args.rebuild_keys, actor=SYSTEM)
    print(f"Compared {result['pairs_compared']:,} pairs; {result['candidates']:,} possible duplicates")
    if result.get("merged_automatically"):
        print(
            f"Merged automatically (score at or over the rules' threshold): {result['merged_automatically']:,}"
        )
    if args.report:
        with open(args.report, "w", newline="", encoding="utf-8") as f:
            rows = write_candidate_report(f)
        print(f"Report of {rows:,} pairs: {args.report}", file=sys.stderr)
    return 0


def cmd_token(args):
    """Create, list or revoke API tokens; `create` prints the secret on its last line."""
    from django.core.exceptions import ValidationError

    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import ApiToken, User
    from kinfolk.access.services import check_create_token, check_revoke_token
    from kinfolk.core.context import acting

    _migrate()
    try:
        with acting("cli"):
            if args.token_command == "create":
                user = User.objects.filter(username=args.user).first()
                if user is None:
                    raise ValidationError({"user": [f"No user {args.user!r}."]})
                data = {"name": args.name or f"{args.user} {args.scope}", "scope": args.scope}
                if args.team:
                    data["team"] = args.team
                if args.expires_days:
                    import datetime

                    from django.utils import timezone

                    data["expires_at"] = timezone.now() + datetime.timedelta(days=args.expires_days)
                token, secret = check_create_token(user=user, data=data, actor=SYSTEM)
                team = token.team.slug if token.team else "whole organisation"
                print(
                    f"Token {token.pk} {token.name!r} for {user.username}, team {team}, scope {token.scope}, "
                    f"expires {token.expires_at:%Y-%m-%d}. Shown once:"
                )
                print(secret)
            elif args.token_command == "list":
                tokens = ApiToken.objects.select_related("user", "team").order_by("id")
                if args.user:
                    tokens = tokens.filter(user__username=args.user)
                print("id\tname\tuser\tteam\tscope\tstarts with\texpires\tlast used\tstatus")
                for t in tokens:
                    status = "revoked" if t.revoked_at else ("active" if t.is_active else "expired")
                    print(
                        f"{t.pk}\t{t.name}\t{t.user.username}\t{t.team.slug if t.team else '-'}\t{t.scope}\t"
                        f"{t.prefix}\t{t.expires_at:%Y-%m-%d}\t"
                        f"{t.last_used_at.strftime('%Y-%m-%d %H:%M') if t.last_used_at else 'never'}\t{status}"
                    )
            else:
                token = ApiToken.objects.filter(pk=args.id).first()
                if token is None:
                    raise ValidationError({"id": [f"No token {args.id}."]})
                check_revoke_token(token, actor=SYSTEM)
                print(f"Token {token.pk} {token.name!r} revoked.")
    except ValidationError as exc:
        _print_errors(exc)
        return 2
    return 0


def _activities_per_person(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 to 1000")
    return value


def _format_from_name(name):
    suffix = (name or "").rsplit(".", 1)[-1].lower()
    return {"xlsx": "xlsx", "vcf": "vcard", "jsonl": "jsonl"}.get(suffix, "csv")


def build_parser():
    from kinfolk import __version__

    parser = argparse.ArgumentParser(
        prog="kinfolk",
        description="Kinfolk: one shared record of each person for the whole organisation.",
    )
    parser.add_argument("--version", action="version", version=f"kinfolk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("init", help="create or upgrade the database; create an administrator if none")
    p.add_argument("--admin-username", default="admin")
    p.add_argument("--admin-password", help="default: a random one, printed once")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("run", help="serve Kinfolk on --host:--port")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--demo-on-first-run", action="store_true", help="load the demo into a new database")
    p.add_argument("--demo-people", type=int, default=2000, help=argparse.SUPPRESS)
    p.add_argument(
        "--no-worker", action="store_true", help="do not start a background worker beside the server"
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("worker", help="run background jobs (imports, exports, deliveries) until stopped")
    p.add_argument("--batch", action="store_true", help="run the jobs waiting now, then exit")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("demo", help="load a realistic demo organisation, reproducible by --seed")
    p.add_argument("--people", type=int, default=2000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--activities-per-person",
        type=_activities_per_person,
        default=None,
        metavar="N",
        help="timeline items per person on average, 0 to 1000 (default 1.5)",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("createuser", help="create a user (optionally administrator, optionally in a team)")
    p.add_argument("username")
    p.add_argument("--email")
    p.add_argument("--admin", action="store_true", help="organisation administrator")
    p.add_argument("--team", help="short name of a team to join")
    p.add_argument("--role", default="member", choices=["viewer", "member", "manager"])
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_createuser)

    p = sub.add_parser("shell", help="a Python shell with Kinfolk loaded")
    p.add_argument("-c", "--command", help="run this code and exit")
    p.set_defaults(func=cmd_shell)

    p = sub.add_parser("import", help="import people from a CSV/TSV, XLSX, vCard or JSON Lines file")
    p.add_argument("file", nargs="?")
    p.add_argument("--format", choices=["csv", "xlsx", "vcard", "jsonl"], help="default: from the file name")
    p.add_argument("--mapping", help="a saved mapping profile's name or a JSON file {column: field}")
    p.add_argument("--map", action="append", default=[], metavar="COLUMN=FIELD", help="map one column")
    p.add_argument("--team", help="short name of the team the import works for (tags and lists)")
    p.add_argument("--on-match", choices=["update", "skip", "flag"], help="when a person exists (update)")
    p.add_argument("--dry-run", action="store_true", help="preview: count and check, write nothing")
    p.add_argument("--strict", action="store_true", help="reject a row with any bad cell")
    p.add_argument("--region", help="country for phone numbers without +code, like DE")
    p.add_argument("--date-order", choices=["DMY", "MDY"], help="for dates like 03/04/1990 (DMY)")
    p.add_argument("--errors", metavar="FILE.csv", help="write the rejected rows with a reason column")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", help="act as this user (default: system)")
    p.add_argument(
        "--resume", type=int, metavar="IMPORT_ID", help="finish a stopped import from its checkpoint"
    )
    p.add_argument("--batch-size", type=int, default=5000, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export people or organisations (CSV, XLSX, vCard, JSON Lines)")
    p.add_argument("kind", nargs="?", default="people", choices=["people", "organisations"])
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--format", choices=["csv", "xlsx", "vcard", "jsonl"], help="default: from -o's name")
    p.add_argument("--tag", help="only people with this tag")
    p.add_argument("--list", help="only people on this list")
    p.add_argument("--search", help="only names containing this text")
    p.add_argument("--as", dest="as_user", metavar="USERNAME", help="what this user may see (default: all)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("dedupe", help="find possible duplicate people; --report writes the pairs to CSV")
    p.add_argument("--report", metavar="FILE.csv", help="write each pair: ids, external ids, score, reasons")
    p.add_argument("--rebuild-keys", action="store_true", help="recompute every matching key first")
    p.set_defaults(func=cmd_dedupe)

    p = sub.add_parser("token", help="create, list or revoke API tokens")
    tokens = p.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    t = tokens.add_parser("create", help="create a token; the secret is printed on the last line")
    t.add_argument("--user", required=True, help="username the token acts as")
    t.add_argument("--team", help="short name of the team it works for (optional for administrators)")
    t.add_argument("--scope", choices=["read", "write"], default="read")
    t.add_argument("--name", help="what the token is for, e.g. 'website signup form'")
    t.add_argument("--expires-days", type=int, help="days until it expires (default 90, at most 366)")
    t = tokens.add_parser("list", help="list tokens (never their secrets)")
    t.add_argument("--user", help="only this user's tokens")
    t = tokens.add_parser("revoke", help="revoke a token by its id")
    t.add_argument("id", type=int)
    p.set_defaults(func=cmd_token)

    p = sub.add_parser("manage", help="run a Django management command", add_help=False)
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_manage)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    _setup_django()
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
