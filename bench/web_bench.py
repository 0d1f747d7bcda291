"""Server time of the web application's hot pages: the people list at scale and a busy person page.

    KINFOLK_HOME=var/bench-web .venv/bin/python bench/web_bench.py --people 1000000
    KINFOLK_HOME=var/bench-web KINFOLK_DATABASE_URL=postgres://postgres@127.0.0.1:5432/kf_bench_web \\
        .venv/bin/python bench/web_bench.py --people 1000000

The first run loads the people (bulk, through kinfolk.people.bulk, audited like an import) and
one person with 200 timeline items; later runs reuse the database. Each page is requested
in-process through Django's full middleware stack (the time a web process spends on it, without
the network), warm, --repeat times, as an administrator and as a team member (whose pages add
the visible_to checks). Prints p50/p95 in milliseconds and the query count per page.
"""

import argparse
import os
import statistics
import sys
import time

FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Katherine",
    "Jürgen",
    "Chiara",
    "Noor",
    "Kwame",
    "Yuki",
    "Olga",
    "Tomás",
    "Amara",
]
LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Johnson",
    "Müller",
    "Rossi",
    "Haddad",
    "Mensah",
    "Sato",
    "Ivanova",
    "Silva",
]
CHUNK = 5000


def load(people):
    """People in bulk (matching keys are left out: duplicates are not what this measures)."""
    from django.db import transaction

    from kinfolk.access.actors import SYSTEM
    from kinfolk.core.context import acting
    from kinfolk.core.events import remove_handler
    from kinfolk.identity.events import refresh_keys
    from kinfolk.people.bulk import bulk_create_people
    from kinfolk.people.models import Person
    from kinfolk.search.index import bulk_indexing

    remove_handler("person.*", refresh_keys)
    done = Person.objects.count()
    start = time.perf_counter()
    with acting("cli"), bulk_indexing():
        while done < people:
            n = min(CHUNK, people - done)
            rows = []
            for i in range(done, done + n):
                given, family = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
                email = f"p{i}@example.org"
                rows.append(
                    (
                        {"given_name": given, "family_name": f"{family} {i}", "country": "DE"},
                        {"emails": [{"email": email, "normalized": email}]},
                    )
                )
            with transaction.atomic():
                bulk_create_people(rows, actor=SYSTEM)
            done += n
            if done % 100_000 == 0 or done == people:
                rate = done / (time.perf_counter() - start)
                print(f"  loaded {done:,} people ({rate:,.0f}/s)", file=sys.stderr, flush=True)
    print(f"  indexed for search in {time.perf_counter() - start:.0f} s (load included)", file=sys.stderr)


def busy_person():
    """The person with 200 notes on the timeline (made once per database)."""
    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import Team
    from kinfolk.access.services import check_create_team
    from kinfolk.activities.models import Activity
    from kinfolk.core.context import acting
    from kinfolk.people.bulk import bulk_insert
    from kinfolk.people.models import Person
    from kinfolk.people.services import check_create_person

    busy = Person.objects.filter(given_name="Busy", family_name="Bench").first()
    if busy is None:
        with acting("cli"):
            team = Team.objects.filter(name="Bench team").first() or check_create_team(
                data={"name": "Bench team"}, actor=SYSTEM
            )
            busy = check_create_person(data={"given_name": "Busy", "family_name": "Bench"}, actor=SYSTEM)
            rows = [
                {"team_id": team.pk, "person_id": busy.pk, "kind": "note", "subject": f"Note {i}",
                 "body": "<p>Talked about the <b>spring appeal</b>.</p>", "repr": f"Note {i}"}
                for i in range(200)
            ]  # fmt: skip
            bulk_insert(Activity, rows, actor=SYSTEM)
    return busy


def run(ctx):
    """The web part of `python -m bench`: server time (in process, full middleware stack) of the person
    page with 200 timeline items and of people list pages, p95 of `repeat` runs of N requests each."""
    from bench.core import Budget, Figure
    from bench.worker import admin_user
    from kinfolk.people.models import Person
    from kinfolk.web.lists import encode_cursor

    busy = busy_person()
    client = _client(admin_user())
    total = Person.objects.count()
    middle = Person.objects.order_by("display_name", "pk").values_list("display_name", "pk")[total // 2]
    pages = [
        ("person page, 200 timeline items", f"/people/{busy.pk}/", Budget("<=", 50)),
        ("people list, first page", "/people/", Budget("<=", 100)),
        ("people list, a page in the middle", f"/people/?cursor={encode_cursor('after', *middle)}", Budget("<=", 100)),
    ]  # fmt: skip
    samples = 10 if ctx.smoke else 30
    figures = []
    for label, url, budget in pages:
        p95s, queries = [], 0
        for _ in range(ctx.repeat):
            _p50, p95, queries = measure(client, url, samples)
            p95s.append(p95)
        figures.append(
            Figure(
                "web",
                f"{label}, server time p95",
                "ms",
                p95s,
                budget,
                note=f"{samples} requests per run, {queries} queries, as an administrator",
            )  # fmt: skip
        )
    return figures


def _client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def setup(people):
    from django.core.management import call_command
    from django.db import connection

    from kinfolk.access.actors import SYSTEM
    from kinfolk.access.models import Role, User
    from kinfolk.access.services import check_add_member, check_create_team, do_create_user
    from kinfolk.core.context import acting
    from kinfolk.people.models import Person

    call_command("migrate", verbosity=0)
    if not User.objects.filter(username="bench-admin").exists():
        with acting("cli"):
            do_create_user(
                values={"username": "bench-admin", "is_org_admin": True}, password=None, actor=SYSTEM
            )
            member = do_create_user(values={"username": "bench-member"}, password=None, actor=SYSTEM)
            team = check_create_team(data={"name": "Bench team"}, actor=SYSTEM)
            check_add_member(team, member, role=Role.MEMBER, actor=SYSTEM)
    if Person.objects.count() < people:
        load(people)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # fresh statistics, as autovacuum would have after a while
                cursor.execute("ANALYZE")
    busy = busy_person()
    return busy


def measure(client, url, repeat):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = (
        {"HTTP_HX_REQUEST": "true"} if url.startswith("/search/") else {}
    )  # type-ahead: the htmx fragment
    client.get(url, **headers)  # warm: templates compiled, caches filled
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url, **headers)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url, **headers)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    return statistics.median(times), p95, len(queries)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kinfolk.settings")
    os.environ.setdefault("KINFOLK_ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("KINFOLK_HTTPS", "0")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from kinfolk.access.models import User
    from kinfolk.people.models import Person

    busy = setup(args.people)
    total = Person.objects.count()
    print(f"{connection.vendor}, {total:,} people", flush=True)
    import re

    for username in ("bench-admin", "bench-member"):
        client = Client()
        client.force_login(User.objects.get(username=username))
        first = client.get("/people/").content.decode()
        cursor = re.search(r'cursor=([A-Za-z0-9_-]+)" rel="next"', first).group(1)
        # a cursor deep into the list: the page after the person at the middle of the name order
        middle = Person.objects.order_by("display_name", "pk").values_list("display_name", "pk")[total // 2]
        from kinfolk.web.lists import encode_cursor

        deep = encode_cursor("after", middle[0], middle[1])
        pages = [
            ("people list, first page", "/people/"),
            ("people list, second page", f"/people/?cursor={cursor}"),
            ("people list, page in the middle", f"/people/?cursor={deep}"),
            ("people list, newest first", "/people/?sort=-created"),
            ("people list, name search 'muller 4'", "/people/?q=muller+4"),
            ("person page, 200 timeline items", f"/people/{busy.pk}/"),
            ("search type-ahead 'mueller 12'", "/search/?q=mueller+12"),
        ]
        for label, url in pages:
            p50, p95, n = measure(client, url, args.repeat)
            print(
                f"{username:13} {label:40} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms   {n:3d} queries", flush=True
            )


if __name__ == "__main__":
    main()
