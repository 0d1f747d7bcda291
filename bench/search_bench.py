"""Type-ahead search benchmark: `kinfolk.search.search` as the search box calls it, beside a plain
LIKE (SQLite) / LIKE on folded text (PostgreSQL) query over the same index table.

A part of `python -m bench` (`run(ctx)`); the queries are what a person types for people of the
demo data set: a name as it starts ('ada lov'), a family name with a typo, a part of an email.
"""

import random
import time


def queries(count, seed):
    """Type-ahead texts for `count` people of the data set, reproducibly."""
    from kinfolk.people.models import EmailAddress, Person
    from kinfolk.search.index import fold

    rng = random.Random(seed)
    ids = list(Person.objects.order_by("pk").values_list("pk", flat=True))
    people = Person.objects.filter(pk__in=rng.sample(ids, min(count, len(ids)))).order_by("pk")
    emails = dict(EmailAddress.objects.filter(person__in=people).values_list("person_id", "normalized"))
    texts = []
    for person in people:
        given, family = fold(person.given_name), fold(person.family_name)
        kind = rng.randrange(4)
        if kind == 0 and given and family:
            texts.append(f"{given} {family[:3]}")  # typing the whole name
        elif kind == 1 and family:
            texts.append(family[: max(3, len(family) - 1)])  # a family name, not finished
        elif kind == 2 and len(family) > 4:
            texts.append(family[:2] + family[3] + family[2] + family[4:])  # two letters swapped
        elif person.pk in emails:
            texts.append(emails[person.pk].split("@")[0][:6])
        elif family:
            texts.append(family[:4])
    return [t for t in texts if len(t.strip()) >= 3]


def like_query(text, limit=10):
    """The plain way: LIKE '%text%' on the index table's folded text (Django's `contains`)."""
    from kinfolk.search.index import fold
    from kinfolk.search.models import SearchEntry

    return list(
        SearchEntry.objects.filter(kind="person", document__contains=fold(text))
        .order_by("title_key")
        .values_list("object_id", "title")[:limit]
    )


def run(ctx):
    from bench.core import Budget, Figure, percentile
    from bench.worker import admin_user
    from kinfolk.search import search

    admin = admin_user()
    texts = queries(40 if ctx.smoke else 200, ctx.seed)
    for text in texts[:10]:  # warm: caches, prepared plans
        search(admin, text)
        like_query(text)
    p95, like_p95, p50 = [], [], []
    for _ in range(ctx.repeat):
        timings, like_timings = [], []
        for text in texts:
            started = time.perf_counter()
            search(admin, text)
            timings.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            like_query(text)
            like_timings.append((time.perf_counter() - started) * 1000)
        p95.append(percentile(timings, 0.95))
        p50.append(percentile(timings, 0.5))
        like_p95.append(percentile(like_timings, 0.95))
    return [
        Figure("search", "type-ahead search, p95", "ms", p95, Budget("<=", 20), "plain LIKE '%text%' query, p95",
               like_p95, note=f"{len(texts)} queries per run, as an administrator"),
        Figure("search", "type-ahead search, p50", "ms", p50),
    ]  # fmt: skip
