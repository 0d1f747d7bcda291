"""Duplicate detection benchmark: batch run time, single-check p95, precision/recall on planted duplicates,
beside splink (DuckDB) and recordlinkage on the same records.

    .venv/bin/python bench/dedupe_bench.py --people 20000
    .venv/bin/python bench/dedupe_bench.py --people 1000000 --home var/bench-1m          # keeps the data
    KINFOLK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/kf_id_bench \\
        .venv/bin/python bench/dedupe_bench.py --people 1000000 --home var/bench-pg
    bash bench/setup_peers.sh && .venv/bin/python bench/dedupe_bench.py --people 100000 --peers

The people come from the demo generator, which plants realistic duplicates (typos, nicknames,
transliteration, swapped names, initials, changed or missing email, missing phone or address);
`planted_duplicates()` is the truth the figures are measured against. With --home, a database that
already holds people is measured as it is (generate once, measure many times); a PostgreSQL
database named by KINFOLK_DATABASE_URL must be one kept for benchmarks.

The matching keys are rebuilt from scratch first (reported as keys_s: in normal use events keep them
current as people change); detect_s is the batch run itself, as `kinfolk dedupe` runs it.
"""

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _cpu_seconds():
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _peak_rss_mb():
    """Peak memory of this process and of its largest scoring worker, in MB."""
    import resource

    return {
        "main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
    }


def _percentile(values, fraction):
    ordered = sorted(values)
    return round(ordered[max(0, int(len(ordered) * fraction) - 1)], 2)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checks", type=int, default=1000, help="single checks to time")
    parser.add_argument("--home", help="KINFOLK_HOME to keep the generated data in and reuse")
    parser.add_argument("--workers", type=int, help="scoring processes (default: one per core)")
    parser.add_argument("--no-rebuild", action="store_true", help="use the stored matching keys as they are")
    parser.add_argument("--peers", action="store_true", help="also run splink and recordlinkage")
    parser.add_argument("--peer-people", type=int, help="run the peers on the first N people only")
    parser.add_argument("--out", help="write the JSON result here too")
    parser.add_argument(
        "--copy-from",
        metavar="HOME",
        help="load the people of the SQLite database in HOME (made by an earlier run) instead of generating",
    )
    args = parser.parse_args(argv)
    home = args.home or tempfile.mkdtemp(prefix="kinfolk-dedupe-bench-")
    Path(home).mkdir(parents=True, exist_ok=True)
    os.environ["KINFOLK_HOME"] = str(Path(home).resolve())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kinfolk.settings")
    if args.workers:
        os.environ["KINFOLK_DEDUPE_WORKERS"] = str(args.workers)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import User
    from kinfolk.access.services import do_create_user
    from kinfolk.core.context import acting
    from kinfolk.demo.generator import generate, planted_duplicates
    from kinfolk.identity.models import DuplicateCandidate
    from kinfolk.identity.services import find_possible_duplicates, rebuild_keys, run_duplicate_detection
    from kinfolk.people.models import Person

    result = {
        "database": connection.vendor,
        "cores": len(os.sched_getaffinity(0)),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }
    with acting("cli"):
        admin = User.objects.filter(username="bench-admin").first() or do_create_user(
            values={"username": "bench-admin", "is_org_admin": True}, password="x" * 20, actor=SYSTEM
        )
        if not Person.objects.exists() and args.copy_from:
            started = time.perf_counter()
            copy_people(Path(args.copy_from))
            result["copied_s"] = round(time.perf_counter() - started, 1)
        if not Person.objects.exists():
            started = time.perf_counter()
            generate(people=args.people, seed=args.seed)
            result["generate_s"] = round(time.perf_counter() - started, 1)
        result["people"] = Person.objects.count()
        _default_rules()
        if not args.no_rebuild:
            started = time.perf_counter()
            rebuild_keys()
            result["rebuild_keys_s"] = round(time.perf_counter() - started, 1)
        started, cpu = time.perf_counter(), _cpu_seconds()
        counts = run_duplicate_detection()
        result["detect_s"] = round(time.perf_counter() - started, 2)
        # CPU seconds of this process and its scoring workers: what the run costs on an idle machine
        result["detect_cpu_s"] = round(_cpu_seconds() - cpu, 1)
        result["peak_rss_mb"] = _peak_rss_mb()
        result.update(counts)
    result["load_after_detect"] = [round(x, 2) for x in os.getloadavg()]

    truth = {tuple(sorted(p)) for p in planted_duplicates()}
    found = set(DuplicateCandidate.objects.filter(status="open").values_list("first_id", "second_id"))
    result["quality"] = _quality(found, truth)
    result["recall_by_kind"] = _recall_by_kind(
        found, Path(os.environ["KINFOLK_HOME"]) / "demo-duplicates.csv"
    )

    ids = list(Person.objects.values_list("pk", flat=True))
    sample = random.Random(args.seed).sample(ids, min(args.checks, len(ids)))
    for label, probe in (("single_check_saved", _saved), ("single_check_new", _new)):
        timings = []
        for pk in sample:
            subject = probe(pk)
            started = time.perf_counter()
            find_possible_duplicates(subject, actor=admin)
            timings.append((time.perf_counter() - started) * 1000)
        result[f"{label}_ms"] = {
            "p50": round(statistics.median(timings), 2),
            "p95": _percentile(timings, 0.95),
            "p99": _percentile(timings, 0.99),
        }
    if args.peers:
        result["peers"] = _run_peers(truth, limit=args.peer_people)
        if args.peer_people:  # Kinfolk's pairs among the same people, for the comparison
            last = Person.objects.order_by("pk").values_list("pk", flat=True)[args.peer_people - 1]
            result["quality_on_peer_people"] = _quality(
                {p for p in found if p[1] <= last}, {p for p in truth if p[1] <= last}
            )
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


def run(ctx):
    """The dedupe part of `python -m bench`: the batch run ctx.repeat times on the demo data set, its
    precision and recall on the planted duplicates, and (with --peers) splink and recordlinkage."""
    from bench.core import Budget, Figure
    from kinfolk.core.context import acting
    from kinfolk.demo.generator import planted_duplicates
    from kinfolk.identity.models import DuplicateCandidate
    from kinfolk.identity.services import run_duplicate_detection

    _default_rules()
    seconds, cpu_seconds = [], []
    with acting("cli"):
        for i in range(ctx.repeat):
            started, cpu = time.perf_counter(), _cpu_seconds()
            run_duplicate_detection()
            seconds.append(time.perf_counter() - started)
            cpu_seconds.append(_cpu_seconds() - cpu)
            ctx.log(f"dedupe {i + 1}/{ctx.repeat}: {seconds[-1]:.1f} s")
    truth = {tuple(sorted(p)) for p in planted_duplicates()}
    found = set(DuplicateCandidate.objects.filter(status="open").values_list("first_id", "second_id"))
    quality = _quality(found, truth)
    peers = _run_peers(truth) if ctx.peers else {}
    splink = peers.get("splink", {})
    splink_quality = splink.get("quality", {}).get("match probability >= 0.9", {})
    splink_name = "splink (DuckDB), probability >= 0.9" if splink_quality else ""
    figures = [
        Figure("dedupe", "batch duplicate detection", "s", seconds, Budget("<=", 60, "at 1M people"),
               "splink, same records" if "total_s" in splink else "", [splink["total_s"]] if "total_s" in splink else [],
               note=f"{quality['found']:,} pairs found; CPU {statistics.median(cpu_seconds):.1f} s"),
        Figure("dedupe", "precision on planted duplicates", "ratio", [quality["precision"] or 0], Budget(">=", 0.99),
               splink_name, [splink_quality["precision"]] if splink_quality.get("precision") else [],
               higher_is_better=True, note=f"{quality['planted']:,} planted"),
        Figure("dedupe", "recall on planted duplicates", "ratio", [quality["recall"] or 0], Budget(">=", 0.95),
               splink_name, [splink_quality["recall"]] if splink_quality.get("recall") else [],
               higher_is_better=True),
    ]  # fmt: skip
    rl = peers.get("recordlinkage", {})
    if "total_s" in rl:
        rl_quality = rl.get("quality", {}).get("4 or more of 7 fields agree", {})
        figures.append(Figure("dedupe", "recordlinkage (peer), batch run", "s", [rl["total_s"]],
                              note=f"precision {rl_quality.get('precision')}, recall {rl_quality.get('recall')} "
                                   "(4 or more of 7 fields agree)"))  # fmt: skip
    for name, peer in peers.items():
        if "error" in peer:
            figures.append(
                Figure("dedupe", f"{name} (peer)", "s", [], note=f"failed: {peer['error'][-300:]}")
            )
    return figures


def run_check(ctx):
    """The check part: find_possible_duplicates for the values of a person about to be created (and for a
    saved person), p95 over a sample of people, ctx.repeat times."""
    from bench.core import Budget, Figure, percentile
    from bench.worker import admin_user
    from kinfolk.identity.services import find_possible_duplicates
    from kinfolk.people.models import Person

    admin = admin_user()
    _default_rules()
    ids = list(Person.objects.values_list("pk", flat=True))
    size = 100 if ctx.smoke else 500
    p95 = {"new": [], "saved": []}
    cpu_p95 = {"new": [], "saved": []}  # CPU time of this process: what load on the machine does not inflate
    for i in range(ctx.repeat):
        sample = random.Random(ctx.seed + i).sample(ids, min(size, len(ids)))
        for label, probe in (("new", _new), ("saved", _saved)):
            timings, cpu = [], []
            for pk in sample:
                subject = probe(pk)
                started, cpu_started = time.perf_counter(), time.process_time()
                find_possible_duplicates(subject, actor=admin)
                timings.append((time.perf_counter() - started) * 1000)
                cpu.append((time.process_time() - cpu_started) * 1000)
            p95[label].append(percentile(timings, 0.95))
            cpu_p95[label].append(percentile(cpu, 0.95))
    return [
        Figure("check", "duplicate check on a single create, p95", "ms", p95["new"], Budget("<=", 5),
               note=f"{size} people's values per run; CPU p95 {statistics.median(cpu_p95['new']):.2f} ms"),
        Figure("check", "duplicate check of a saved person, p95", "ms", p95["saved"], Budget("<=", 5),
               note=f"CPU p95 {statistics.median(cpu_p95['saved']):.2f} ms"),
    ]  # fmt: skip


def _default_rules():
    """Measure the rules Kinfolk ships: the default rule set as the code defines it now."""
    from kinfolk.identity.models import MatchRuleSet, default_rules
    from kinfolk.identity.services import forget_rules

    MatchRuleSet.objects.update(is_active=False)
    MatchRuleSet.objects.update_or_create(
        name="default",
        defaults={
            "rules": default_rules(),
            "is_active": True,
            "review_threshold": MatchRuleSet._meta.get_field("review_threshold").default,
            "auto_merge_threshold": None,
        },
    )
    forget_rules()


def _quality(found, truth):
    hits = len(truth & found)
    return {
        "planted": len(truth),
        "found": len(found),
        "true_positives": hits,
        "precision": round(hits / len(found), 4) if found else None,
        "recall": round(hits / len(truth), 4) if truth else None,
    }


def _recall_by_kind(found, path):
    """{kind of distortion: [found, planted]} from the generator's list of planted pairs."""
    totals, hits = Counter(), Counter()
    if not path.exists():
        return {}
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            pair = tuple(sorted((int(row["original person id"]), int(row["duplicate person id"]))))
            for kind in row["kinds of distortion"].split("; "):
                totals[kind] += 1
                hits[kind] += pair in found
    return {kind: [hits[kind], totals[kind]] for kind in sorted(totals)}


def _saved(pk):
    """An existing person, as the check after an edit sees them."""
    from kinfolk.people.models import Person

    return Person.objects.get(pk=pk)


def _new(pk):
    """The values of an existing person as a create would send them (the check before saving)."""
    from kinfolk.people.models import Person

    person = Person.objects.get(pk=pk)
    return {
        "given_name": person.given_name,
        "family_name": person.family_name,
        "country": person.country.code,
        "emails": [e.normalized for e in person.emails.all()],
        "phones": [p.number for p in person.phonenumbers.all()],
        "addresses": [
            {"postal_code": a.postal_code, "street": a.street, "locality": a.locality}
            for a in person.postaladdresss.all()
        ],
    }


COPIED = [
    "people_person",
    "people_emailaddress",
    "people_phonenumber",
    "people_postaladdress",
    "people_externalid",
]


def copy_people(home):
    """Copy the people and their details from the SQLite database of an earlier run (same migrations).

    Generating a million people takes the demo generator most of an hour on a busy machine; the
    duplicate benchmark needs the same people on both databases, not a second generation.
    """
    import shutil
    import sqlite3

    from django.db import connection, transaction

    from kinfolk.imports.writer import loader_for

    source = sqlite3.connect(home / "kinfolk.sqlite3")
    load = loader_for()
    with transaction.atomic():
        for table in COPIED:
            columns = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]  # noqa: S608
            names = ", ".join(f'"{c}"' for c in columns)
            cursor = source.execute(f'SELECT {names} FROM "{table}" ORDER BY id')  # noqa: S608 (table names)
            while rows := cursor.fetchmany(50000):
                load._load(table, columns, rows)
            if connection.vendor == "postgresql":
                with connection.cursor() as pg:
                    top = f'(SELECT MAX(id) FROM "{table}")'  # noqa: S608 (one of the table names above)
                    pg.execute(f"SELECT setval(pg_get_serial_sequence(%s, 'id'), {top})", [table])
    shutil.copy(home / "demo-duplicates.csv", Path(os.environ["KINFOLK_HOME"]) / "demo-duplicates.csv")


def export_records(path, limit=None):
    """Write one CSV row per person, the same fields every tool gets: the peers' input."""
    from django.db.models import Min

    from kinfolk.people.models import EmailAddress, Person, PhoneNumber, PostalAddress

    people = Person.objects.order_by("pk")
    if limit:
        last = people.values_list("pk", flat=True)[limit - 1 : limit].first()
        people = people.filter(pk__lte=last) if last else people
    first_email = dict(
        EmailAddress.objects.values("person_id").annotate(v=Min("normalized")).values_list("person_id", "v")
    )
    first_phone = dict(
        PhoneNumber.objects.filter(person__isnull=False)
        .values("person_id")
        .annotate(v=Min("number"))
        .values_list("person_id", "v")
    )
    address = {}
    for pid, code, street, city in PostalAddress.objects.filter(person__isnull=False).values_list(
        "person_id", "postal_code", "street", "locality"
    ):
        address.setdefault(pid, (code, street, city))
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(
            [
                "unique_id",
                "given_name",
                "family_name",
                "email",
                "phone",
                "postcode",
                "street",
                "city",
                "country",
            ]
        )
        for pk, given, family, country in people.values_list(
            "pk", "given_name", "family_name", "country"
        ).iterator(chunk_size=20000):
            code, street, city = address.get(pk, ("", "", ""))
            out.writerow(
                [
                    pk,
                    given,
                    family,
                    first_email.get(pk, ""),
                    first_phone.get(pk, ""),
                    code,
                    street,
                    city,
                    country,
                ]
            )
            count += 1
    return count


def _run_peers(truth, limit=None):
    python = HERE / ".venv-peers" / "bin" / "python"
    if not python.exists():
        return {"error": "run bench/setup_peers.sh first"}
    results = {}
    with tempfile.TemporaryDirectory(prefix="kinfolk-peers-") as tmp:
        records = Path(tmp) / "people.csv"
        count = export_records(records, limit)
        ids = None
        if limit:
            with records.open() as handle:
                ids = {int(row["unique_id"]) for row in csv.DictReader(handle)}
        subset = {p for p in truth if ids is None or (p[0] in ids and p[1] in ids)}
        for peer in ("splink", "recordlinkage"):
            pairs_file = Path(tmp) / f"{peer}.csv"
            started = time.perf_counter()
            run = subprocess.run(
                [str(python), str(HERE / "dedupe_peers.py"), peer, str(records), str(pairs_file)],
                capture_output=True,
                text=True,
                check=False,
            )
            elapsed = round(time.perf_counter() - started, 1)
            if run.returncode != 0:
                results[peer] = {"error": run.stderr[-2000:], "wall_s": elapsed}
                continue
            info = json.loads(run.stdout.strip().splitlines()[-1])
            variants = {}
            with pairs_file.open() as handle:
                for a, b, variant in csv.reader(handle):
                    variants.setdefault(variant, set()).add(tuple(sorted((int(a), int(b)))))
            results[peer] = {
                "people": count,
                "wall_s": elapsed,
                **info,
                "quality": {variant: _quality(found, subset) for variant, found in variants.items()},
            }
    return results


if __name__ == "__main__":
    sys.exit(main())
