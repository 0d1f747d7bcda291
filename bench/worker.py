"""One part of the benchmark in a process of its own: `python -m bench.worker PART ...` (run by `python -m bench`).

The environment (KINFOLK_HOME, KINFOLK_DATABASE_URL) names the part's database; the figures are
written as JSON to --json.
"""

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

PARTS = {
    "prepare": "bench.worker:prepare",
    "import": "bench.import_bench:run",
    "dedupe": "bench.dedupe_bench:run",
    "check": "bench.dedupe_bench:run_check",
    "search": "bench.search_bench:run",
    "web": "bench.web_bench:run",
    "api": "bench.api_bench:run",
}


def setup_django():
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def admin_user():
    """The organisation administrator the parts act as (made once per database)."""
    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import User
    from kinfolk.access.services import do_create_user
    from kinfolk.core.context import acting

    user = User.objects.filter(username="bench-admin").first()
    if user is None:
        with acting("cli"):
            user = do_create_user(
                values={"username": "bench-admin", "is_org_admin": True}, password=None, actor=SYSTEM
            )
    return user


def prepare(ctx):
    """The demo organisation at ctx.people people (seeded), its matching keys, and one busy person."""
    from django.db import connection

    from bench.core import Figure
    from bench.datasets import ACTIVITIES_PER_PERSON
    from kinfolk.core.context import acting
    from kinfolk.demo.generator import generate
    from kinfolk.identity.services import rebuild_keys

    admin_user()
    figures = []
    with acting("cli"):
        ctx.log(
            f"generating {ctx.people:,} demo people (seed {ctx.seed}), {ACTIVITIES_PER_PERSON} activities each"
        )
        started = time.perf_counter()
        summary = generate(people=ctx.people, seed=ctx.seed, activities_per_person=ACTIVITIES_PER_PERSON)
        elapsed = time.perf_counter() - started
        note = (f"{summary['people']:,} people, {summary['activities']:,} activities, "
                f"{summary['relationships']:,} relationships, {summary['households']:,} households")  # fmt: skip
        figures.append(
            Figure(
                "prepare",
                "demo generator",
                "people/s",
                [ctx.people / elapsed],
                higher_is_better=True,
                note=note,
            )  # fmt: skip
        )
        started = time.perf_counter()
        rebuild_keys()
        elapsed = time.perf_counter() - started
        figures.append(Figure("prepare", "rebuild every matching key", "s", [elapsed]))
    from bench.web_bench import busy_person

    busy_person()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # fresh statistics, as autovacuum would have after a while
            cursor.execute("VACUUM ANALYZE")
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=sorted(PARTS))
    parser.add_argument("--people", type=int, required=True)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--peers", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", required=True)
    parser.add_argument("--json", required=True)
    args = parser.parse_args(argv)
    from bench.core import Context

    ctx = Context(
        people=args.people,
        db=args.db,
        repeat=args.repeat,
        peers=args.peers,
        data_dir=Path(args.data),
        smoke=args.smoke,
        seed=args.seed,
    )
    setup_django()
    from django.db import connection

    if connection.vendor != args.db:
        raise SystemExit(f"the part's database is {connection.vendor}, not {args.db}")
    module, name = PARTS[args.part].split(":")
    run = getattr(importlib.import_module(module), name)
    started = time.perf_counter()
    figures = run(ctx)
    result = {
        "part": args.part,
        "seconds": round(time.perf_counter() - started, 1),
        "figures": [f.as_dict(ctx) for f in figures],
    }
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
