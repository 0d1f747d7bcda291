"""In-process cost of the REST API's hot paths (no network, no server): GET one person, a 50-person
page, and bulk upserts of 1,000 people (new, then all matched).

    KINFOLK_HOME=var/bench-api .venv/bin/python bench/api_bench.py [--people 1000] [--repeat 300]

It measures the application's own time per request (Django + DRF + the database), the ceiling that a
production server's throughput per core can approach. Throughput under gunicorn with a load
generator is measured separately.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

CLIENTS = 16  # concurrent clients, as in the budget of DESIGN.md


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn serving Kinfolk on the part's database: sync workers, two per core."""

    def __init__(self, workers=None):
        self.port = _free_port()
        self.workers = workers or 2 * len(os.sched_getaffinity(0))
        self.process = None

    def __enter__(self):
        command = [sys.executable, "-m", "gunicorn", "kinfolk.wsgi:application", "--workers", str(self.workers),
                   "--bind", f"127.0.0.1:{self.port}", "--timeout", "600", "--log-level", "warning"]  # fmt: skip
        self.process = subprocess.Popen(command, env=os.environ.copy())
        return self

    def wait(self, path, headers, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                status, _ = request(self.port, "GET", path, headers)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not answer {path} within {timeout} s")

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def request(port, method, path, headers, body=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data
    finally:
        if own:
            conn.close()


def load(port, path, headers, *, clients=CLIENTS, seconds=5.0, max_requests=100_000):
    """`clients` threads sending GET path back to back for `seconds` (bounded in count and time):
    (requests/s, [latency ms], errors)."""
    latencies, errors, lock = [], [], threading.Lock()
    deadline = time.perf_counter() + seconds
    budget = [max_requests]

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, bad = [], 0
        while time.perf_counter() < deadline:
            with lock:
                if budget[0] <= 0:
                    break
                budget[0] -= 1
            started = time.perf_counter()
            try:
                status, _ = request(port, "GET", path, headers, conn=conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                status = 0
            if status == 200:
                mine.append((time.perf_counter() - started) * 1000)
            else:
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors.append(bad)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, sum(errors)


WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("KINFOLK %d %d %d %.1f %.1f\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50), latency:percentile(95)))
end
"""


def wrk_load(port, path, headers, *, clients=CLIENTS, seconds=5.0):
    """The same load from wrk (C, event loop: far less CPU per request than Python threads, so more of
    the two cores is left to the server): (requests/s, p50 ms, p95 ms, errors)."""
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_REPORT)
        script.flush()
        command = [
            "wrk",
            f"-t{min(2, clients)}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={round(SLOW_WINDOW)}s",  # a slow request is measured, not dropped at wrk's 2 s
            "-s",
            script.name,
        ]
        for name, value in headers.items():
            if name.lower() != "host":
                command += ["-H", f"{name}: {value}"]
        out = subprocess.run(
            [*command, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True
        )
    line = next(x for x in out.stdout.splitlines() if x.startswith("KINFOLK "))
    count, micros, errors, p50, p95 = line.split()[1:]
    return int(count) / (int(micros) / 1e6), float(p50) / 1000, float(p95) / 1000, int(errors)


SLOW_WINDOW = 60.0  # seconds: the window again when no request finished in the first (a slow peer)


def measure(port, path, headers, *, clients=CLIENTS, seconds=5.0):
    """(requests/s, p50 ms, p95 ms, errors) from wrk if installed, else from the threaded generator."""
    from bench.core import percentile

    if shutil.which("wrk"):
        measured = wrk_load(port, path, headers, clients=clients, seconds=seconds)
        if measured[0] == 0 and seconds < SLOW_WINDOW:
            # wrk counts only the requests that end inside its window: when each takes longer than
            # the window, none does, so measure again over a window long enough to see them end
            measured = wrk_load(port, path, headers, clients=clients, seconds=SLOW_WINDOW)
        return measured
    rate, latencies, errors = load(port, path, headers, clients=clients, seconds=seconds)
    return rate, percentile(latencies, 0.5) or 0, percentile(latencies, 0.95) or 0, errors


def measure_get(port, path, headers, *, repeat, seconds):
    """GET path from CLIENTS clients for `seconds`, `repeat` times, after a warm-up of every worker:
    (req/s per run, p50 ms per run, p95 ms per run, p50 ms of one client alone per run, failures)."""
    measure(port, path, headers, seconds=1.0)  # warm every worker
    rates, p50s, p95s, alone, errors = [], [], [], [], 0
    for _ in range(repeat):
        rate, p50, p95, bad = measure(port, path, headers, seconds=seconds)
        rates.append(rate)
        p50s.append(p50)
        p95s.append(p95)
        errors += bad
        # one client: the time of a request without queueing, what concurrency is measured against
        _rate, p50, _p95, bad = measure(port, path, headers, clients=1, seconds=seconds / 4)
        alone.append(p50)
        errors += bad
    return rates, p50s, p95s, alone, errors


def run(ctx):
    """The api part of `python -m bench`: Kinfolk under gunicorn, wrk (or, without it, a threaded Python
    load generator) on the same machine (it shares the two cores with the server). GET one person and a 50-person page at 16
    concurrent clients; bulk upserts of 1,000 people (new, then all matched), one client. With
    --peers, BottleCRM measured the same way afterwards gives the references (bench/peer_bottlecrm.py)."""
    from django.db import connections

    from bench.core import Budget, Figure
    from bench.worker import admin_user
    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.services import check_create_token
    from kinfolk.core.context import acting
    from kinfolk.people.models import Person

    admin = admin_user()
    with acting("cli"):
        _token, secret = check_create_token(
            user=admin, data={"name": "bench", "scope": "write"}, actor=SYSTEM
        )
    person = Person.objects.order_by("pk").values_list("pk", flat=True)[Person.objects.count() // 2]
    last_person = Person.objects.order_by("-pk").values_list("pk", flat=True).first()  # before the upserts
    connections.close_all()
    headers = {"Host": "127.0.0.1", "Authorization": f"Bearer {secret}", "Accept": "application/json"}
    seconds = 2.0 if ctx.smoke else 8.0
    bulk_size = 50 if ctx.smoke else 1000
    figures, stats = [], {}
    with Server() as server:
        server.wait(f"/api/v1/people/{person}/", headers)
        for label, path in (("GET one person", f"/api/v1/people/{person}/"),
                            ("GET list of 50 people", "/api/v1/people/?page_size=50")):  # fmt: skip
            stats[label] = measure_get(server.port, path, headers, repeat=ctx.repeat, seconds=seconds)
        new_rates, matched_rates = [], []
        post = {**headers, "Content-Type": "application/json"}
        for i in range(ctx.repeat):
            tag = f"bench-{int(time.time())}-{i}"
            body = json.dumps({"people": [
                {"given_name": f"Bench{n}", "family_name": "Person",
                 "emails": [{"email": f"{tag}-{n}@example.org"}],
                 "phones": [{"number": f"+44 20 7946 {n % 10000:04d}"}],
                 "external_ids": [{"system": tag, "value": str(n)}]}
                for n in range(bulk_size)]})  # fmt: skip
            for rates in (new_rates, matched_rates):
                started = time.perf_counter()
                status, data = request(server.port, "POST", "/api/v1/people/bulk/", post, body=body)
                elapsed = time.perf_counter() - started
                if status != 200:
                    raise RuntimeError(f"bulk upsert answered {status}: {data[:300]!r}")
                rates.append(bulk_size / elapsed)
            ctx.log(
                f"bulk upsert {i + 1}/{ctx.repeat}: {new_rates[-1]:,.0f} new/s, {matched_rates[-1]:,.0f} matched/s"
            )
    generator = "wrk" if shutil.which("wrk") else "a threaded Python generator"
    where = f"gunicorn, {server.workers} sync workers; {CLIENTS} clients ({generator}) on the same machine"
    budgets = {
        "GET one person": (Budget(">=", 1000), Budget("<=", 25)),
        "GET list of 50 people": (Budget(">=", 400), None),
    }
    for label, (rates, p50s, p95s, alone, errors) in stats.items():
        rate_budget, p95_budget = budgets[label]
        note = where + (f"; {errors} failed requests" if errors else "")
        figures += [
            Figure(
                "api", f"{label}, throughput", "req/s", rates, rate_budget, higher_is_better=True, note=note
            ),
            Figure(
                "api",
                f"{label}, p50",
                "ms",
                p50s,
                reference_name="one client alone, p50",
                reference_samples=alone,
            ),
            Figure("api", f"{label}, p95", "ms", p95s, p95_budget),
        ]
    figures += [
        Figure("api", f"bulk upsert of {bulk_size:,} new people", "people/s", new_rates, higher_is_better=True,
               note="one request, one client"),
        Figure("api", f"bulk upsert of {bulk_size:,} people, all matched", "people/s", matched_rates,
               higher_is_better=True),
    ]  # fmt: skip
    if ctx.peers:  # the same measurements of BottleCRM become these figures' references
        from bench import peer_bottlecrm

        figures += peer_bottlecrm.attach(ctx, figures, workers=server.workers, measure_get=measure_get,
                                         seconds=seconds, bulk_size=bulk_size, last_person=last_person)  # fmt: skip
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kinfolk.settings")
    os.environ.setdefault("KINFOLK_HTTPS", "0")
    os.environ.setdefault("KINFOLK_API_RATE_LIMIT", "1000000000")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.services import check_create_token, do_create_user
    from kinfolk.core.context import acting

    call_command("migrate", verbosity=0)
    tag = f"{int(time.time())}"
    with acting("cli"):
        user = do_create_user(values={"username": f"bench{tag}", "is_org_admin": True}, actor=SYSTEM)
        _token, secret = check_create_token(user=user, data={"name": "bench", "scope": "write"}, actor=SYSTEM)
    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {secret}")
    people = [
        {
            "given_name": f"Bench{i}",
            "family_name": "Person",
            "emails": [{"email": f"bench{tag}-{i}@example.org"}],
            "phones": [{"number": f"+44 20 7946 {i % 10000:04d}"}],
            "external_ids": [{"system": f"bench{tag}", "value": str(i)}],
        }
        for i in range(args.people)
    ]
    body = json.dumps({"people": people})
    results = {"database": connection.vendor}
    for label in ("bulk upsert, new", "bulk upsert, all matched"):
        start = time.perf_counter()
        response = client.post("/api/v1/people/bulk/", body, content_type="application/json")
        elapsed = time.perf_counter() - start
        assert response.status_code == 200, response.content[:500]
        results[label] = f"{args.people / elapsed:,.0f} people/s ({elapsed:.1f} s for {args.people:,})"
    first = response.json()["results"][0]["id"]

    def timed(url, repeat):
        for _ in range(10):
            client.get(url)
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            response = client.get(url)
            samples.append(time.perf_counter() - start)
            assert response.status_code == 200
        mean = statistics.mean(samples)
        p95 = statistics.quantiles(samples, n=20)[-1]
        return f"{mean * 1000:.1f} ms mean, {p95 * 1000:.1f} ms p95 = {1 / mean:,.0f} requests/s per core"

    results["GET one person"] = timed(f"/api/v1/people/{first}/", args.repeat)
    results["GET 50 people"] = timed("/api/v1/people/?page_size=50", max(args.repeat // 5, 20))
    for key, value in results.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
