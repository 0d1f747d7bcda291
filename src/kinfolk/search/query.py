"""Answering a search: candidates from the backend, ranked here, filtered through visible_to(actor)."""

from dataclasses import dataclass

from rapidfuzz import fuzz

from kinfolk.people.models import List, Organisation, Person
from kinfolk.search.backends import backend
from kinfolk.search.index import fold
from kinfolk.search.models import SearchEntry

MIN_SCORE = 80  # below this a fuzzy candidate is noise ("redi" vs "medi" scores 75)
MAX_QUERY = 100
CANDIDATES = 200  # entries ranked here per stage; a backend returns them unranked, as fast as it finds them


@dataclass(frozen=True)
class SearchResult:
    """One match: what it is, its id, how to show it, and how well it matched (0-100)."""

    kind: str
    object_id: int
    title: str
    subtitle: str
    score: float


def _word_score(word, words):
    best = 0.0
    for candidate in words:
        if candidate.startswith(word):
            return 100.0
        if word in candidate:
            best = max(best, 92.0)
        elif len(word) >= 3:
            best = max(best, fuzz.ratio(word, candidate), fuzz.ratio(word, candidate[: len(word)]) - 4)
    return best


def score(query_words, entry):
    """How well an entry matches: each query word against the entry's words, averaged; title prefix wins."""
    words = entry.document.split()
    total = sum(_word_score(w, words) for w in query_words) / len(query_words)
    if entry.title_key.startswith(" ".join(query_words)):
        total += 5
    return total


def _visible_ids(actor, kind, ids):
    model = {"person": Person, "organisation": Organisation, "list": List}[kind]
    return set(model.objects.visible_to(actor).filter(pk__in=ids).values_list("pk", flat=True))


def search(actor, q, *, limit=10, kinds=None):
    """The best `limit` matches for q among the people, organisations and lists actor may see."""
    query_words = fold((q or "")[:MAX_QUERY]).split()
    if not query_words:
        return []
    kinds = [k for k in (kinds or SearchEntry.Kind.values) if k in SearchEntry.Kind.values]
    engine = backend()
    text = " ".join(query_words)
    want = max(limit * 4, 20)  # room for entries the actor may not see
    if len(text) < 3:  # one or two letters: titles starting with them
        entries = list(
            SearchEntry.objects.filter(kind__in=kinds, title_key__startswith=text).order_by(
                "title_key", "id"
            )[:want]
        )
    else:
        # The words as typed ('ada lov'), then every word anywhere ('lov ada'), then look-alikes (typos).
        ids = engine.phrase(text, kinds=kinds, limit=CANDIDATES)
        if len(ids) < want and len(query_words) > 1:
            seen = set(ids)
            ids += [pk for pk in engine.exact(query_words, kinds=kinds, limit=CANDIDATES) if pk not in seen]
        if not ids:
            ids = engine.fuzzy(query_words, kinds=kinds, limit=CANDIDATES)
        entries = list(SearchEntry.objects.filter(pk__in=ids))
    scored = [(score(query_words, e), e) for e in entries]
    scored = [(s, e) for s, e in scored if s >= MIN_SCORE]
    scored.sort(key=lambda item: (-item[0], item[1].title_key, item[1].object_id))
    by_kind = {}
    for _s, e in scored:
        by_kind.setdefault(e.kind, []).append(e.object_id)
    visible = {(kind, pk) for kind, pks in by_kind.items() for pk in _visible_ids(actor, kind, pks)}
    results = [
        SearchResult(e.kind, e.object_id, e.title, e.subtitle, round(min(s, 100.0), 1))
        for s, e in scored
        if (e.kind, e.object_id) in visible
    ]
    return results[:limit]


def matching_ids_sql(kind, q):
    """(sql, params) of a subquery of object ids of `kind` matching every word of q, or None for no words."""
    return backend().matching_ids_sql(kind, fold(q).split())
