"""In-process cost of the REST API's hot paths (no network, no server): GET one person, a 50-person
page, and bulk upserts of 1,000 people (new, then all matched).

    KINFOLK_HOME=var/bench-api .venv/bin/python bench/api_bench.py [--people 1000] [--repeat 300]

It measures the application's own time per request (Django + DRF + the database), the ceiling that a
production server's throughput per core can approach. Throughput under gunicorn with a load
generator is measured separately.
"""

import argparse
import json
import os
import statistics
import time


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
