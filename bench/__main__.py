"""Kinfolk's benchmark suite: `python -m bench` (or `make bench`).

    python -m bench                                   # every part, 10k people, SQLite, 3 repetitions
    python -m bench --only import,search --scale 10k,100k --db both --repeat 3
    python -m bench --scale 1m --db postgres --peers  # the reference scale (an hour or more)
    python -m bench --smoke --out /tmp/x              # the quick run of `make test`

Each part runs in a process of its own against a data set made once per scale and database and
cached under --data (var/bench/). Each figure is the median of --repeat runs, beside a reference
measured in the same run. One JSON file per scale and database goes to --out (bench/results/);
when --out is bench/results, docs/benchmarks.md and its plot are regenerated from every results file
there (`python -m bench.report` does only that).
"""

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import datasets
from bench.core import ROOT, machine_info, parse_scale, scale_label

PARTS = ["import", "dedupe", "check", "search", "web", "api"]
RESULTS = ROOT / "bench" / "results"


def bottlecrm_note(args, figures):
    """Why the api part has no BottleCRM references in this run, or None when it has them."""
    if "api" not in args.parts:
        return None
    if not args.peers:
        return (
            "BottleCRM (django-crm) as the api part's peer CRM: not measured (run with --peers; "
            "bench/setup_peers.sh installs it in bench/.venv-bottlecrm, on Python >= 3.12)"
        )
    for figure in figures:
        if figure["part"] == "api" and figure["name"].startswith("BottleCRM") and not figure["samples"]:
            return f"BottleCRM (django-crm) as the api part's peer CRM: {figure['note']}"
    return None


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts: {', '.join(PARTS)}; or prepare: make the data sets only")  # fmt: skip
    parser.add_argument("--scale", default="10k", help="comma-separated: 10k, 100k, 1m or a number of people")
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres", "postgresql", "both"])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--peers", action=argparse.BooleanOptionalAction, default=False,
                        help="run splink and recordlinkage beside the duplicate detection (bench/setup_peers.sh)")  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS), help="folder for the results JSON")
    parser.add_argument("--data", default=str(ROOT / "var" / "bench"), help="folder of the cached data sets")
    parser.add_argument("--smoke", action="store_true", help="small and quick: fewer samples per figure")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-docs", action="store_true", help="do not regenerate docs/benchmarks.md")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = [p for p in args.parts if p not in PARTS + ["prepare"]]
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}; the parts are {', '.join(PARTS)}")
    try:
        args.scales = [parse_scale(s) for s in args.scale.split(",") if s.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    args.dbs = {"sqlite": ["sqlite"], "both": ["sqlite", "postgresql"]}.get(args.db, ["postgresql"])
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def run_worker(part, people, db, role, args, log_prefix):
    """One part in its own process, with its database in the environment; returns its result dict."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KINFOLK_")}
    env.update(datasets.environment(args.data, people, db, role))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "src"), env.get("PYTHONPATH")]))
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [sys.executable, "-m", "bench.worker", part, "--people", str(people), "--db", db,
               "--repeat", str(args.repeat), "--seed", str(args.seed), "--data", str(args.data),
               "--json", str(out)] + (["--peers"] if args.peers else []) + (["--smoke"] if args.smoke else [])  # fmt: skip
    print(f"{log_prefix} {part}: running", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, check=False)
    elapsed = round(time.perf_counter() - started, 1)
    try:
        if done.returncode != 0:
            return {"part": part, "seconds": elapsed, "error": f"exit code {done.returncode}", "figures": []}
        result = json.loads(out.read_text())
        result["seconds_with_setup"] = elapsed
        return result
    finally:
        out.unlink(missing_ok=True)


def run_one(people, db, args, command):
    prefix = f"[{scale_label(people)} {db}]"
    started_at = datetime.datetime.now(datetime.UTC)
    machine = machine_info(datasets.postgres_base() + "postgres" if db == "postgresql" else None)
    parts, figures = {}, []
    data_parts = [p for p in args.parts if p != "import"]
    if data_parts and not datasets.is_ready(args.data, people, db):
        datasets.reset(args.data, people, db)
        result = run_worker("prepare", people, db, "data", args, prefix)
        parts["prepare"] = {k: v for k, v in result.items() if k != "figures"}
        figures += result["figures"]
        if "error" in result:
            data_parts = []
            for part in args.parts:
                if part != "import":
                    parts[part] = {"error": "no data set (the prepare step failed)"}
        else:
            marker = datasets.home(args.data, people, db) / datasets.MARKER
            marker.write_text(json.dumps({"people": people, "seed": args.seed, "made": started_at.isoformat(),
                                          "activities_per_person": datasets.ACTIVITIES_PER_PERSON,
                                          "figures": result["figures"]}, indent=2) + "\n")  # fmt: skip
    for part in args.parts:
        if part == "prepare" or (part != "import" and part not in data_parts):
            continue
        role = {"import": "import", "api": "scratch"}.get(part, "data")
        if part == "import":
            datasets.ensure_import_database(args.data, db)
        if part == "api":
            datasets.make_scratch(args.data, people, db)
        try:
            result = run_worker(part, people, db, role, args, prefix)
        finally:
            if part == "api":
                datasets.drop_scratch(args.data, people, db)
        parts[part] = {k: v for k, v in result.items() if k != "figures"}
        figures += result["figures"]
    not_measured = [note for note in [bottlecrm_note(args, figures)] if note]
    if "dedupe" in args.parts and not args.peers:
        not_measured.append(
            "splink and recordlinkage beside the duplicate detection: not measured (run with --peers)"
        )
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return {
        "scale": people,
        "scale_label": scale_label(people),
        "database": db,
        "repeat": args.repeat,
        "peers": args.peers,
        "smoke": args.smoke,
        "seed": args.seed,
        "started": started_at.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": command,
        "machine": machine,
        "parts": parts,
        "figures": figures,
        "not_measured": not_measured,
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.data = Path(args.data).resolve()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    command = os.environ.get("BENCH_COMMAND") or "python -m bench " + shlex.join(argv)
    failed = False
    for people in args.scales:
        for db in args.dbs:
            result = run_one(people, db, args, command)
            if not result["parts"]:
                print(f"[{scale_label(people)} {db}] the data set is ready: nothing to do", flush=True)
                continue
            stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
            path = out / f"{stamp}-{scale_label(people)}-{db}.json"
            path.write_text(json.dumps(result, indent=2) + "\n")
            print(f"wrote {path}", flush=True)
            from bench.report import print_table

            print_table(result)
            errors = {p: r["error"] for p, r in result["parts"].items() if "error" in r}
            if errors:
                failed = True
                print(f"FAILED parts: {errors}", file=sys.stderr)
    if out == RESULTS.resolve() and not args.no_docs and not args.smoke:
        from bench import report

        report.main([])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
