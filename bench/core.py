"""What every part of the benchmark suite shares: the run context, figures, timing and machine facts.

A part is a module function `run(ctx) -> list[Figure]`. It runs in a process of its own (started by
`python -m bench`), whose Django settings point at the part's database; `ctx` says the scale, the
database, how many repetitions, and where the cached data sets live.
"""

import dataclasses
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCALES = {"1k": 1_000, "2k": 2_000, "10k": 10_000, "100k": 100_000, "1m": 1_000_000}


def parse_scale(text):
    """'10k' -> 10000, '1m' -> 1000000, '2500' -> 2500."""
    text = text.strip().lower()
    if text in SCALES:
        return SCALES[text]
    match = re.fullmatch(r"(\d+)([km]?)", text)
    if not match:
        raise ValueError(f"not a scale: {text!r} (use 10k, 100k, 1m or a number)")
    return int(match.group(1)) * {"": 1, "k": 1_000, "m": 1_000_000}[match.group(2)]


def scale_label(people):
    if people % 1_000_000 == 0:
        return f"{people // 1_000_000}m"
    if people % 1_000 == 0:
        return f"{people // 1_000}k"
    return str(people)


@dataclasses.dataclass
class Budget:
    """A budget from DESIGN.md: value with the direction that passes ('>=' or '<=')."""

    op: str
    value: float
    note: str = ""

    def passes(self, value):
        return value >= self.value if self.op == ">=" else value <= self.value

    def __str__(self):
        return f"{self.op} {self.value:,g}" + (f" ({self.note})" if self.note else "")


@dataclasses.dataclass
class Figure:
    """One measured figure: the median of its samples (one sample per repetition), beside a reference."""

    part: str
    name: str
    unit: str
    samples: list
    budget: Budget | None = None
    reference_name: str = ""
    reference_samples: list = dataclasses.field(default_factory=list)
    higher_is_better: bool = False
    note: str = ""

    def as_dict(self, ctx):
        value = statistics.median(self.samples) if self.samples else None
        reference = statistics.median(self.reference_samples) if self.reference_samples else None
        ratio = None
        if value is not None and reference:
            ratio = round(value / reference, 4)
        return {
            "part": self.part,
            "name": self.name,
            "unit": self.unit,
            "value": _round(value),
            "min": _round(min(self.samples)) if self.samples else None,
            "max": _round(max(self.samples)) if self.samples else None,
            "samples": [_round(s) for s in self.samples],
            "higher_is_better": self.higher_is_better,
            "budget": str(self.budget) if self.budget else None,
            "status": (
                None
                if self.budget is None or value is None
                else "pass"
                if self.budget.passes(value)
                else "miss"
            ),
            "reference": self.reference_name or None,
            "reference_value": _round(reference),
            "ratio": ratio,
            "scale": ctx.people,
            "database": ctx.db,
            "note": self.note,
        }


def _round(value):
    if value is None:
        return None
    if abs(value) >= 100:
        return round(value, 1)
    return round(value, 4)


@dataclasses.dataclass
class Context:
    """What a part is told: how big, which database, how often, where the data sets are cached."""

    people: int
    db: str  # "sqlite" or "postgresql"
    repeat: int
    peers: bool
    data_dir: Path
    smoke: bool = False
    seed: int = 1

    @property
    def scale(self):
        return scale_label(self.people)

    def log(self, *args):
        print(f"[{self.scale} {self.db}]", *args, flush=True)


def percentile(values, fraction):
    """The nearest-rank percentile of values (fraction 0.95 for p95)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def timed_ms(fn, *args, **kwargs):
    started = time.perf_counter()
    fn(*args, **kwargs)
    return (time.perf_counter() - started) * 1000


def peak_rss_mb():
    """Peak resident memory of this process and of its largest child so far, in MB."""
    import resource

    return {
        "main": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def machine_info(postgres_url=None):
    """Cores, memory, CPU model, versions and the git commit: what a reader needs to compare runs."""
    info = {
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))
        info["memory_gb"] = round(kb / 1024 / 1024, 1)
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        info["cpu"] = cpu.group(1).strip() if cpu else platform.processor()
    except OSError:
        info["cpu"] = platform.processor()
    info["calibration_ms"] = calibration_ms()
    info["git_commit"] = _git("rev-parse", "HEAD")
    # changes to what the bench itself writes (this page, the plot, the results) are not the code's
    info["git_dirty"] = bool(_git("status", "--porcelain", "--untracked-files=no", "--", ".", *BENCH_OUTPUTS))
    if postgres_url:
        info["postgresql"] = postgres_version(postgres_url)
    return info


def calibration_ms(rounds=5):
    """The best of `rounds` timings of one fixed pure-Python workload (what a request's CPU does:
    dicts, strings, JSON, sorting), in ms. The same processor name can hide a machine twice as fast
    or as slow (virtual machines share hosts); runs whose calibrations differ are not compared."""
    import json
    import time

    def work():
        rows = [
            {"id": i, "name": f"Person {i}", "email": f"p{i}@example.org", "tags": [i % 7, i % 11]}
            for i in range(4000)
        ]
        text = json.dumps(rows)
        back = json.loads(text)
        back.sort(key=lambda row: (row["tags"][1], row["name"]))
        return sum(len(row["name"].upper()) for row in back)

    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 2)


def postgres_version(url):
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:  # noqa: BLE001 (a fact for the report, not a failure)
        return f"unknown ({type(exc).__name__})"


BENCH_OUTPUTS = (":!docs/benchmarks.md", ":!docs/img/bench-scaling.svg", ":!bench/results")


def _git(*args):
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
