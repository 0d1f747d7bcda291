"""Identity resolution services: matching keys, the single check, the batch run, review decisions, rules.

The web review queue and the REST API call these (and kinfolk.identity.merge for merge and undo):

- `find_possible_duplicates(data_or_person, actor=…)`: the check on every create and edit.
- `open_candidates(actor=…)`: the review queue, best score first, only pairs the actor may see.
- `compare_people(first, second, actor=…)`: a pair side by side, with the score and the reasons.
- `check_mark_not_duplicate(…)`: "not the same person", remembered for good.
- `check_start_dedupe(actor=…)` / `run_duplicate_detection()`: the batch run, as a job or inline.
- `check_update_rules(…)`: the matching rules, edited by an administrator.
"""

import math
from collections import defaultdict
from typing import NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kinfolk.access.permissions import require_permission
from kinfolk.core.audit import actor_user, record_change, snapshot
from kinfolk.core.db import ids_lookup
from kinfolk.core.db import refresh_statistics as refresh_tables
from kinfolk.core.models import ChangeRecord
from kinfolk.identity.batch import COUNTED_KINDS, collect_pairs, pair_code, pair_of, score_pairs
from kinfolk.identity.matching import (
    Profile,
    Scorer,
    blocking_keys,
    explain,
    make_profile,
    profile_from_row,
)
from kinfolk.identity.models import (
    DuplicateCandidate,
    MatchKey,
    MatchProfile,
    MatchRuleSet,
    default_rules,
)
from kinfolk.people.models import EmailAddress, ExternalId, Person, PhoneNumber, PostalAddress

BLOCK_CAP = (
    20  # a key more people share than this makes no candidate pairs (an office phone, a shared mailbox)
)
# A name alone makes candidates only while few people have it: in a large database five people
# share each name, and only the other fields can tell them apart (they have keys of their own).
KIND_CAPS = {"name": 10}
COUNT_LIMIT = 100_000  # how far the single check counts the people sharing a value
_CHUNK = 900  # ids per IN (...) query, below SQLite's variable limit
_PROFILE_COLUMNS = (
    "person_id", "given", "given_raw", "family", "birth_date", "country",
    "emails", "phones", "external_ids", "addresses", "localities",
)  # fmt: skip


def _chunks(ids, size=_CHUNK):
    ids = list(ids)
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _table(model):
    return connection.ops.quote_name(model._meta.db_table)


# ---- rules --------------------------------------------------------------------------------------


RULES_TTL = 2.0  # seconds a process keeps the rules it read: the single check runs on every save
_rules_cache = {}


def active_rules():
    """The rule set in force: the active one, else the built-in default (kept for RULES_TTL seconds)."""
    import time

    cached = _rules_cache.get("rules")
    if cached and time.monotonic() - cached[0] < RULES_TTL:
        return cached[1]
    rules = MatchRuleSet.objects.filter(is_active=True).order_by("-updated_at").first()
    if rules is None:
        rules = MatchRuleSet(name="default", rules=default_rules(), review_threshold=10.5)
    _rules_cache["rules"] = (time.monotonic(), rules)
    return rules


def forget_rules():
    """Drop this process's copy of the rules (after they change, and between tests)."""
    _rules_cache.clear()


def _number(value, where, errors, *, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        errors.setdefault(where, []).append(_("Expected a number, got %(value)r.") % {"value": value})
        return
    if (low is not None and value < low) or (high is not None and value > high):
        errors.setdefault(where, []).append(
            _("Expected a number from %(low)s to %(high)s, got %(value)r.")
            % {"low": low, "high": high, "value": value}
        )


def validate_rules(changes, *, current):
    """Check a change of the matching rules; a ValidationError names each wrong path, value and expectation."""
    errors = {}
    allowed = {"rules", "review_threshold", "auto_merge_threshold", "is_active", "name"}
    for key in sorted(set(changes) - allowed):
        errors[key] = [_("Not a setting of the matching rules; expected one of %(names)s.") % {
            "names": ", ".join(sorted(allowed))
        }]  # fmt: skip
    rules = changes.get("rules")
    if "rules" in changes:
        if not isinstance(rules, dict):
            errors["rules"] = [_('Expected an object like {"weights": {"email": {"agree": 9}}}.')]
        else:
            known = {"weights", "name_similarity", "frequency_scale", "common_count", "trusted_sources"}
            for key in sorted(set(rules) - known):
                errors[f"rules.{key}"] = [
                    _("Not a rule; expected one of %(names)s.") % {"names": ", ".join(sorted(known))}
                ]
            sources = rules.get("trusted_sources", [])
            if not isinstance(sources, list) or not all(isinstance(x, str) and x for x in sources):
                errors["rules.trusted_sources"] = [
                    _('Expected a list of sources, most trusted first, like ["ui", "api", "import"].')
                ]
            weights = rules.get("weights")
            if not isinstance(weights, dict):
                errors["rules.weights"] = [_("Expected an object of fields, each with its outcomes' points.")]
            else:
                for fieldname, outcomes in weights.items():
                    where = f"rules.weights.{fieldname}"
                    if fieldname not in Scorer.FIELDS:
                        errors[where] = [
                            _("Not a field matching knows; expected one of %(names)s.")
                            % {"names": ", ".join(Scorer.FIELDS)}
                        ]
                        continue
                    if not isinstance(outcomes, dict):
                        errors[where] = [_('Expected an object like {"agree": 9, "disagree": -1}.')]
                        continue
                    for outcome, points in outcomes.items():
                        if outcome not in Scorer.OUTCOMES:
                            errors[f"{where}.{outcome}"] = [
                                _("Not an outcome; expected one of %(names)s.")
                                % {"names": ", ".join(Scorer.OUTCOMES)}
                            ]
                        else:
                            _number(points, f"{where}.{outcome}", errors, low=-100, high=100)
            if "name_similarity" in rules:
                _number(rules["name_similarity"], "rules.name_similarity", errors, low=0, high=1)
            if "frequency_scale" in rules:
                _number(rules["frequency_scale"], "rules.frequency_scale", errors, low=0, high=10)
            if "common_count" in rules:
                count = rules["common_count"]
                if isinstance(count, bool) or not isinstance(count, int) or count < 2:
                    errors["rules.common_count"] = [
                        _("Expected a whole number of people, 2 or more, got %(value)r.") % {"value": count}
                    ]
    if "review_threshold" in changes:
        _number(changes["review_threshold"], "review_threshold", errors, low=-1000, high=1000)
    auto = changes.get("auto_merge_threshold", current.auto_merge_threshold)
    if "auto_merge_threshold" in changes and auto is not None:
        _number(auto, "auto_merge_threshold", errors, low=-1000, high=1000)
    review = changes.get("review_threshold", current.review_threshold)
    if not errors and auto is not None and auto < review:
        errors["auto_merge_threshold"] = [
            _(
                "The score to merge automatically (%(auto)s) must not be below the score to review (%(review)s)."
            )
            % {"auto": auto, "review": review}
        ]
    if "name" in changes and (not isinstance(changes["name"], str) or not changes["name"].strip()):
        errors["name"] = [_("Expected a name for the rule set.")]
    if "is_active" in changes and not isinstance(changes["is_active"], bool):
        errors["is_active"] = [_("Expected true or false.")]
    if errors:
        raise ValidationError(errors)


def check_update_rules(rule_set, *, changes, actor):
    """Let an administrator change weights and thresholds; the rules are validated before they are saved."""
    if not getattr(actor, "is_org_admin", False):
        raise PermissionDenied(_("Only administrators may change the matching rules."))
    if not isinstance(changes, dict):
        raise ValidationError({"rules": [_("Expected an object of settings.")]})
    validate_rules(changes, current=rule_set)
    return do_update_rules(rule_set, changes=changes, actor=actor)


@transaction.atomic
def do_update_rules(rule_set, *, changes, actor):
    """Save validated rule changes, audited; the active rule set is the only active one."""
    before = snapshot(rule_set) if rule_set.pk else {}
    for key, value in changes.items():
        setattr(rule_set, key, value.strip() if key == "name" else value)
    rule_set.save()
    if rule_set.is_active:
        MatchRuleSet.objects.exclude(pk=rule_set.pk).update(is_active=False)
    forget_rules()
    transaction.on_commit(forget_rules)
    record_change(
        rule_set,
        action=ChangeRecord.Action.UPDATE if before else ChangeRecord.Action.CREATE,
        before=before,
        after=snapshot(rule_set),
        actor=actor,
    )
    return rule_set


# ---- profiles and keys --------------------------------------------------------------------------


def source_profiles(person_ids=None, *, id_range=None):
    """Profiles of the given people read from their records (a few set-based queries per 900 people).

    id_range=(first, last) reads every person in that range of ids instead, with range scans of
    the person_id indexes: how a full rebuild walks a million people.
    """
    profiles = {}
    if id_range is not None:
        batches = [{"person_id__gte": id_range[0], "person_id__lte": id_range[1]}]
    else:
        batches = [ids_lookup("person_id", chunk) for chunk in _chunks(person_ids)]
    for where in batches:
        values = defaultdict(lambda: defaultdict(list))
        for pk, email in EmailAddress.objects.filter(**where).values_list("person_id", "normalized"):
            values[pk]["emails"].append(email)
        for pk, number in PhoneNumber.objects.filter(**where).values_list("person_id", "number"):
            values[pk]["phones"].append(number)
        for pk, system, value in ExternalId.objects.filter(**where).values_list(
            "person_id", "system", "value"
        ):
            values[pk]["external_ids"].append((system, value))
        for pk, code, street, city in PostalAddress.objects.filter(**where).values_list(
            "person_id", "postal_code", "street", "locality"
        ):
            values[pk]["addresses"].append((code, street))
            values[pk]["localities"].append(city)
        people = {key.replace("person_id", "pk"): value for key, value in where.items()}
        for pk, given, family, born, country in Person._base_manager.filter(**people).values_list(
            "pk", "given_name", "family_name", "birth_date", "country"
        ):
            profiles[pk] = make_profile(
                pk,
                given_name=given,
                family_name=family,
                birth_date=born,
                country=country,
                **values.get(pk, {}),
            )
    return profiles


def stored_profiles(person_ids):
    """Profiles of the given people from their stored matching form (one query per 900 people)."""
    profiles = {}
    columns = ", ".join(connection.ops.quote_name(c) for c in _PROFILE_COLUMNS)
    with connection.cursor() as cursor:
        for chunk in _chunks(person_ids):
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT {columns} FROM {_table(MatchProfile)} WHERE person_id IN ({marks})",  # noqa: S608 (names)
                chunk,
            )
            for row in cursor.fetchall():
                profiles[row[0]] = profile_from_row(*row)
    return profiles


@transaction.atomic
def rebuild_keys(person_ids=None, *, progress=None):
    """Recompute the matching profile and keys of these people (all people when None).

    Called for the people that events say changed (see identity.events), by a merge and its undo,
    and for repairs (`kinfolk dedupe --rebuild-keys`).
    """
    from kinfolk.imports.writer import loader_for

    load = loader_for()
    if person_ids is None:
        MatchKey.objects.all().delete()
        MatchProfile.objects.all().delete()
        total = Person._base_manager.count()
        batch, done = [], 0
        for pk in Person._base_manager.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=20000):
            batch.append(pk)
            if len(batch) >= 20000:
                _write_keys(load, batch, whole_range=True)
                done += len(batch)
                batch = []
                if progress:
                    progress(done, total)
        _write_keys(load, batch, whole_range=True)
        transaction.on_commit(refresh_statistics)
        return
    for chunk in _chunks(person_ids):
        MatchKey.objects.filter(**ids_lookup("person_id", chunk)).delete()
        MatchProfile.objects.filter(**ids_lookup("person_id", chunk)).delete()
        _write_keys(load, chunk)


def refresh_statistics():
    """Bring the planner's statistics and PostgreSQL's visibility map up to date after a full rebuild of the keys.

    Without it PostgreSQL plans the batch run's grouping of millions of keys for the empty tables it
    last saw (a join of seconds then takes hours), and the single check's counts read the table
    instead of the index until autovacuum comes by.
    """
    refresh_tables(MatchKey, MatchProfile, vacuum=True)


def _write_keys(load, person_ids, whole_range=False):
    if not person_ids:
        return
    if whole_range:  # every person from the first id to the last: range scans, not lists of ids
        profiles = source_profiles(id_range=(person_ids[0], person_ids[-1]))
    else:
        profiles = source_profiles(person_ids)
    write_profiles(load, ((pk, profile_row(p), blocking_keys(p)) for pk, p in profiles.items()))


def write_profiles(load, items):
    """Store (person id, profile_row of its Profile, its blocking keys) for people who have none yet."""
    profiles, keys = [], []
    for pk, row, blocking in items:
        profiles.append((pk, *row))
        keys.extend((kind, value, pk) for kind, value in blocking)
    load.insert_tuples(MatchProfile, _PROFILE_COLUMNS, profiles)
    # In the order of the block index (kind, value, person): a batch's keys then go into the index's
    # pages in one pass instead of one random page each, which at a million people are mostly not cached.
    keys.sort()
    load.insert_tuples(MatchKey, ("kind", "value", "person_id"), keys)


def profile_row(profile):
    """A Profile as its MatchProfile row stores it, less the person id (dates as ISO text, for both databases)."""
    given, given_raw, family, born, *rest = profile.to_row()
    return (given, given_raw, family, born.isoformat() if born else None, *rest)


# ---- single check -------------------------------------------------------------------------------


class PossibleDuplicate:
    """A person who may be the one being checked: the score, the reasons in words, the findings.

    Unpacks as (person, score, reasons), as the web page's template and older callers read it;
    `findings` ([[field, outcome, detail], …]) is there for those that say it in their own words.
    """

    __slots__ = ("person", "score", "reasons", "findings")

    def __init__(self, person, score, reasons, findings=()):
        self.person, self.score, self.reasons, self.findings = person, score, reasons, list(findings)

    def __iter__(self):
        return iter((self.person, self.score, self.reasons))

    def __len__(self):
        return 3

    def __getitem__(self, index):
        return (self.person, self.score, self.reasons)[index]

    def __eq__(self, other):
        return isinstance(other, PossibleDuplicate) and (tuple(self), self.findings) == (
            tuple(other),
            other.findings,
        )

    def __repr__(self):
        return f"PossibleDuplicate({self.person.pk}, {self.score}, {self.reasons!r})"


def _items(data, key):
    items = data.get(key) or []
    return items if isinstance(items, list) else []


def _fresh_profile(pk):
    """One person's profile from their records in one query (the check after every edit)."""
    from django.apps import apps

    def t(label):
        return _table(apps.get_model("people", label))

    sql = (
        f"SELECT 'p', given_name, family_name, birth_date, country FROM {t('Person')} WHERE id = %s "  # noqa: S608 (table names)
        f"UNION ALL SELECT 'e', normalized, '', NULL, '' FROM {t('EmailAddress')} WHERE person_id = %s "
        f"UNION ALL SELECT 'f', number, '', NULL, '' FROM {t('PhoneNumber')} WHERE person_id = %s "
        f"UNION ALL SELECT 'x', system, value, NULL, '' FROM {t('ExternalId')} WHERE person_id = %s "
        f"UNION ALL SELECT 'a', postal_code, street, NULL, locality FROM {t('PostalAddress')} WHERE person_id = %s"
    )
    values = defaultdict(list)
    person = None
    with connection.cursor() as cursor:
        cursor.execute(sql, [pk] * 5)
        for kind, a, b, born, extra in cursor.fetchall():
            if kind == "p":
                person = (a, b, born, extra)
            elif kind == "e":
                values["emails"].append(a)
            elif kind == "f":
                values["phones"].append(a)
            elif kind == "x":
                values["external_ids"].append((a, b))
            else:
                values["addresses"].append((a, b))
                values["localities"].append(extra)
    if person is None:
        return Profile(id=pk)
    given, family, born, country = person
    if born is not None and not hasattr(born, "isoformat"):
        born = Person._meta.get_field("birth_date").to_python(born)
    return make_profile(pk, given_name=given, family_name=family, birth_date=born, country=country, **values)


def profile_of(data_or_person):
    """The matching profile of a saved Person (read fresh from its records) or of values about to be saved."""
    if isinstance(data_or_person, Person):
        return _fresh_profile(data_or_person.pk)
    data = data_or_person or {}

    def value(item, *names):
        if isinstance(item, dict):
            return next((item[n] for n in names if item.get(n)), "")
        return item if isinstance(item, str) else ""

    return make_profile(
        None,
        given_name=data.get("given_name") or "",
        family_name=data.get("family_name") or "",
        birth_date=data.get("birth_date") if hasattr(data.get("birth_date"), "isoformat") else None,
        country=data.get("country") or "",
        emails=[value(e, "normalized", "email") for e in _items(data, "emails")],
        phones=[value(p, "number") for p in _items(data, "phones")],
        external_ids=[
            (x.get("system", ""), x.get("value", ""))
            for x in _items(data, "external_ids")
            if isinstance(x, dict)
        ],
        addresses=[
            (a.get("postal_code", ""), a.get("street", ""))
            for a in _items(data, "addresses")
            if isinstance(a, dict)
        ],
        localities=[a.get("locality", "") for a in _items(data, "addresses") if isinstance(a, dict)],
    )


class _Neighbours(NamedTuple):
    """Who shares a person's keys (see `_neighbours`)."""

    counts: dict  # {(kind, value): people sharing it, counted up to COUNT_LIMIT}
    candidates: dict  # {person id: stored Profile} of the people to compare with


def _neighbours(keys, *, own=None, extra=0, with_profiles=True):
    """The people sharing each key, how many share it, and the stored profiles of those in blocks
    small enough to make pairs, less `own` and the people a decision already links to `own` (not the
    same person, or merged).

    Two queries whatever the size of the database: one of index look-ups (per key: its first
    BLOCK_CAP + 1 holders and a count stopped at COUNT_LIMIT; the decisions about `own`), one for the
    profiles. extra: people not stored yet who belong to every block (1 for a record about to be
    created), so that a block makes pairs here exactly when it would in the batch run.
    """
    table = _table(MatchKey)
    holders_part = (
        f"SELECT kind, value, person_id, NULL FROM ("  # noqa: S608 (table name)
        f"SELECT kind, value, person_id FROM {table} WHERE kind = %s AND value = %s LIMIT %s) b"
    )
    count_part = (
        f"SELECT %s, %s, NULL, (SELECT COUNT(*) FROM (SELECT 1 FROM {table} "  # noqa: S608 (table name)
        "WHERE kind = %s AND value = %s LIMIT %s) c)"
    )
    parts, params = [], []
    for kind, value in sorted(keys):
        parts += [holders_part, count_part]
        params += [kind, value, BLOCK_CAP + 1, kind, value, kind, value, COUNT_LIMIT]
    if own is not None:
        parts.append(
            "SELECT '', '', CASE WHEN first_id = %s THEN second_id ELSE first_id END, NULL "  # noqa: S608 (table name)
            f"FROM {_table(DuplicateCandidate)} WHERE (first_id = %s OR second_id = %s) AND status <> %s"
        )
        params += [own, own, own, DuplicateCandidate.Status.OPEN]
    holders, counts, decided = defaultdict(list), {}, {own}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for kind, value, pk, n in cursor.fetchall():
            if not kind:
                decided.add(pk)
            elif pk is None:
                counts[kind, value] = n
            else:
                holders[kind, value].append(pk)
    if not with_profiles:
        return _Neighbours(counts, {})
    wanted = set()
    for key, ids in holders.items():
        if counts[key] + extra <= KIND_CAPS.get(key[0], BLOCK_CAP):
            wanted.update(ids)
    wanted -= decided
    return _Neighbours(counts, stored_profiles(wanted) if wanted else {})


def find_possible_duplicates(data_or_person, *, actor, limit=5):
    """[PossibleDuplicate(person, score, reasons, findings)] of people the actor may see, best first.

    data_or_person is a saved Person (checked after an edit) or the cleaned values of a person about
    to be created (as validate_person returns them, or the API's fields), so that the check answers
    before anything is written. Pairs marked "not the same person" are never suggested.
    The same few queries whatever the size of the database: a saved person's records, the two of
    `_neighbours`, and the people found.
    """
    profile = profile_of(data_or_person)
    keys = blocking_keys(profile)
    if not keys:
        return []
    own = profile.id
    saved = own is not None
    # The blocks as the batch run sees them: a new record is not stored yet, so it counts extra.
    near = _neighbours(keys, own=own, extra=0 if saved else 1)
    if not near.candidates:
        return []
    counts = near.counts

    def shared_by(kind, value):
        # A saved person's own key is counted among the holders; a new record's is not yet.
        return counts.get((kind, value), 1) + (0 if saved else 1)

    rules = active_rules()
    scorer = Scorer(rules.rules)
    scored = []
    for pk, other in near.candidates.items():
        score, findings = scorer.compare(profile, other, shared_by)
        if score >= rules.review_threshold:
            scored.append((score, pk, findings))
    if not scored:
        return []
    scored.sort(key=lambda x: (-x[0], x[1]))
    people = Person.objects.visible_to(actor).in_bulk([pk for _s, pk, _f in scored])
    found = [
        PossibleDuplicate(people[pk], score, explain(findings), _json_findings(findings))
        for score, pk, findings in scored
        if pk in people
    ]
    return found[:limit]


def _json_findings(findings):
    return [[f, o, d] for f, o, d in findings]


# ---- batch run ----------------------------------------------------------------------------------


def _stream(sql, params=(), size=50_000):
    """Rows of a query, fetched in batches (a server-side cursor on PostgreSQL)."""
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(size):
            yield from rows


def run_duplicate_detection(*, progress=None, rebuild=False, workers=None, check_cancelled=None, actor=None):
    """Find every candidate pair in the database and store it as an open DuplicateCandidate.

    Pairs already decided (merged, not the same person) are left as they are. Returns counts and
    timings. `progress(done, total)` is called as the pairs are scored, for a job's progress bar;
    `check_cancelled()` may raise to stop the run between steps (nothing is written until the end).
    When the rules set a score to merge automatically and an actor is given, pairs scoring that
    much are merged as that actor (the older record survives), each merge undoable as any other.
    """
    import time

    timings = {}
    started = time.perf_counter()
    if rebuild or (not MatchProfile.objects.exists() and Person._base_manager.exists()):
        rebuild_keys()
        timings["keys_s"] = round(time.perf_counter() - started, 2)
    rules = active_rules()
    scorer = Scorer(rules.rules)
    step = time.perf_counter()
    table = _table(MatchKey)
    # Two passes over the keys' covering index, the grouping done by the database: how many people
    # share each value of the counted kinds (three or more), and the rows of every block of two to
    # BLOCK_CAP people, in block order. Most keys are one person's alone and never reach Python.
    marks = ", ".join(["%s"] * len(COUNTED_KINDS))
    counts = {
        (kind, value): n
        for kind, value, n in _stream(
            f"SELECT kind, value, COUNT(*) FROM {table} WHERE kind IN ({marks}) "  # noqa: S608 (table name)
            "GROUP BY kind, value HAVING COUNT(*) > 2",
            list(COUNTED_KINDS),
        )
    }
    rows = _stream(
        f"SELECT kind, value, person_id FROM {table} WHERE (kind, value) IN ("  # noqa: S608 (table name)
        f"SELECT kind, value FROM {table} GROUP BY kind, value HAVING COUNT(*) BETWEEN 2 AND %s"
        ") ORDER BY kind, value, person_id",
        [BLOCK_CAP],
    )
    pairs, _block_counts = collect_pairs(rows, cap=BLOCK_CAP, caps=KIND_CAPS)
    for first, second in DuplicateCandidate.objects.exclude(
        status=DuplicateCandidate.Status.OPEN
    ).values_list("first_id", "second_id"):
        pairs.discard(pair_code(first, second))
    timings["pairs_s"] = round(time.perf_counter() - step, 2)
    if check_cancelled:
        check_cancelled()
    step = time.perf_counter()
    needed = set()
    for code in pairs:
        needed.update(pair_of(code))
    profiles = {}
    columns = ", ".join(connection.ops.quote_name(c) for c in _PROFILE_COLUMNS)
    for row in _stream(f"SELECT {columns} FROM {_table(MatchProfile)}"):  # noqa: S608 (column and table names)
        if row[0] in needed:
            profiles[row[0]] = profile_from_row(*row)
    del needed
    timings["profiles_s"] = round(time.perf_counter() - step, 2)
    if check_cancelled:
        check_cancelled()
    step = time.perf_counter()
    total = len(pairs)
    found = score_pairs(
        pairs, profiles, scorer, counts, rules.review_threshold, workers=workers, progress=progress
    )
    del pairs, profiles
    timings["score_s"] = round(time.perf_counter() - step, 2)
    if check_cancelled:
        check_cancelled()
    step = time.perf_counter()
    _store_candidates(found)
    timings["store_s"] = round(time.perf_counter() - step, 2)
    result = {"pairs_compared": total, "candidates": len(found)}
    if rules.auto_merge_threshold is not None and actor is not None:
        result["merged_automatically"] = _merge_automatically(found, rules.auto_merge_threshold, actor)
    timings["total_s"] = round(time.perf_counter() - started, 2)
    return {**result, "timings": timings}


def _merge_automatically(found, threshold, actor):
    """Merge the pairs scoring at least threshold, best first; a person merged away is not merged again."""
    import logging

    from kinfolk.identity.merge import check_merge_people

    merged = 0
    gone = set()
    for a, b, score, _findings in found:
        if score < threshold or a in gone or b in gone:
            continue
        people = Person.objects.in_bulk([a, b])
        if len(people) < 2:
            continue
        try:
            check_merge_people(people[a], people[b], actor=actor)
        except (PermissionDenied, ValidationError) as exc:
            logging.getLogger("kinfolk.identity").warning(
                "automatic merge of %s into %s refused: %s", b, a, exc
            )
            continue
        gone.add(b)
        merged += 1
    return merged


@transaction.atomic
def _store_candidates(found):
    from kinfolk.imports.writer import loader_for

    DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.OPEN).delete()
    now = timezone.now()
    loader_for().insert(
        DuplicateCandidate,
        [
            {
                "first_id": a,
                "second_id": b,
                "score": score,
                "reasons": explain(findings),
                "findings": _json_findings(findings),
                "status": DuplicateCandidate.Status.OPEN,
                "found_at": now,
            }
            for a, b, score, findings in found
        ],
        with_ids=False,
    )


def check_start_dedupe(*, actor, rebuild=False):
    """Queue the batch run over the whole database as a background job (administrators only)."""
    from kinfolk.identity.tasks import start_dedupe

    if not getattr(actor, "is_org_admin", False):
        raise PermissionDenied(_("Only administrators may search the whole database for duplicates."))
    return start_dedupe(actor=actor, rebuild=rebuild)


# ---- review -------------------------------------------------------------------------------------


def open_candidates(*, actor):
    """Open candidate pairs where the actor may see both people, best score first."""
    visible = Person.objects.visible_to(actor).values("pk")
    return (
        DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.OPEN)
        .filter(first_id__in=visible, second_id__in=visible)
        .order_by("-score", "first_id", "second_id")
    )


# Fields shown side by side when two people are compared.
COMPARED_FIELDS = (
    "given_name", "middle_name", "family_name", "display_name", "preferred_name", "prefix", "suffix",
    "pronouns", "language", "time_zone", "country", "birth_date",
)  # fmt: skip


class PairComparison(NamedTuple):
    """Two people side by side: score, reasons, and each field's two values and whether they differ."""

    first: Person
    second: Person
    score: float
    reasons: list
    findings: list
    fields: list  # [(field name, label, first value, second value, differs?)]
    details: dict  # {"emails": ([first's], [second's]), "phones": …, "addresses": …, "external_ids": …}


def compare_people(first, second, *, actor):
    """Explain a pair field by field, as the review page and the API show it; both must be visible."""
    require_permission(actor, "view", first)
    require_permission(actor, "view", second)
    profiles = source_profiles([first.pk, second.pk])
    p, q = profiles[first.pk], profiles[second.pk]
    keys = blocking_keys(p) | blocking_keys(q)
    counts = _neighbours(keys, with_profiles=False).counts if keys else {}
    rules = active_rules()
    score, findings = Scorer(rules.rules).compare(p, q, lambda kind, value: counts.get((kind, value), 2))
    fields = []
    for name in COMPARED_FIELDS:
        field = Person._meta.get_field(name)
        a, b = getattr(first, name), getattr(second, name)
        a, b = (str(getattr(a, "code", a) or ""), str(getattr(b, "code", b) or ""))
        fields.append((name, str(field.verbose_name), a, b, a != b))
    details = {
        "emails": tuple(
            sorted(EmailAddress.objects.filter(person=x).values_list("email", flat=True))
            for x in (first, second)
        ),
        "phones": tuple(
            sorted(PhoneNumber.objects.filter(person=x).values_list("number", flat=True))
            for x in (first, second)
        ),
        "addresses": tuple(
            sorted(str(a) for a in PostalAddress.objects.filter(person=x)) for x in (first, second)
        ),
        "external_ids": tuple(
            sorted(str(e) for e in ExternalId.objects.filter(person=x)) for x in (first, second)
        ),
    }
    return PairComparison(first, second, score, explain(findings), _json_findings(findings), fields, details)


def candidate_for(first, second):
    """The stored pair of two people (either order), or None."""
    a, b = sorted((first.pk, second.pk))
    return DuplicateCandidate.objects.filter(first_id=a, second_id=b).first()


def check_mark_not_duplicate(candidate_or_people, *, actor):
    """Remember that two people are not the same person; the pair is never suggested again.

    Takes a DuplicateCandidate or a pair (person, person); the actor must be able to change both.
    """
    if isinstance(candidate_or_people, DuplicateCandidate):
        ids = (candidate_or_people.first_id, candidate_or_people.second_id)
    else:
        first, second = candidate_or_people
        ids = tuple(sorted((first.pk, second.pk)))
        if ids[0] == ids[1]:
            raise ValidationError({"second": [_("A person is always the same person as themselves.")]})
    people = Person.objects.in_bulk(ids)
    for pk in ids:
        if pk not in people:
            raise ValidationError({"person": [_("No person with id %(id)s.") % {"id": pk}]})
        require_permission(actor, "change", people[pk])
    return do_mark_not_duplicate(ids, actor=actor)


@transaction.atomic
def do_mark_not_duplicate(ids, *, actor):
    """Store the decision on the pair (creating it if no run had suggested it)."""
    first, second = sorted(ids)
    candidate, _created = DuplicateCandidate.objects.select_for_update().get_or_create(
        first_id=first, second_id=second, defaults={"score": 0.0}
    )
    candidate.status = DuplicateCandidate.Status.NOT_DUPLICATE
    candidate.decided_at = timezone.now()
    candidate.decided_by = actor_user(actor)
    candidate.save(update_fields=["status", "decided_at", "decided_by"])
    return candidate


def resolve_person_id(pk):
    """The id a person id stands for now: merged-away ids lead to their survivor (following chains)."""
    from kinfolk.identity.models import MergeRecord

    seen = set()
    while pk not in seen:
        seen.add(pk)
        survivor = (
            MergeRecord.objects.filter(merged_id=pk, undone_at__isnull=True)
            .order_by("-merged_at", "-id")
            .values_list("survivor_id", flat=True)
            .first()
        )
        if survivor is None:
            return pk
        pk = survivor
    return pk


def write_candidate_report(stream, *, actor=None):
    """Write open candidate pairs as CSV (ids, external ids, score, reasons); returns the row count.

    With an actor, only the pairs whose two people the actor may see.
    """
    import csv

    from kinfolk.imports.exports import neutralise_cell

    writer = csv.writer(stream)
    writer.writerow(
        ["first_id", "first_external_ids", "second_id", "second_external_ids", "score", "reasons"]
    )
    count = 0
    candidates = (
        open_candidates(actor=actor)
        if actor is not None
        else DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.OPEN).order_by(
            "-score", "first_id", "second_id"
        )
    )
    for batch in _chunks(candidates.values_list("first_id", "second_id", "score", "reasons").iterator(), 400):
        ids = {a for a, _b, _s, _r in batch} | {b for _a, b, _s, _r in batch}
        external = defaultdict(list)
        for pk, system, value in (
            ExternalId.objects.filter(person_id__in=ids)
            .order_by("system", "value")
            .values_list("person_id", "system", "value")
        ):
            external[pk].append(f"{system}:{value}")
        for a, b, score, reasons in batch:
            writer.writerow(
                [
                    a,
                    neutralise_cell(" ".join(external[a])),
                    b,
                    neutralise_cell(" ".join(external[b])),
                    score,
                    neutralise_cell("; ".join(reasons)),
                ]
            )
            count += 1
    return count


__all__ = [
    "BLOCK_CAP",
    "PairComparison",
    "PossibleDuplicate",
    "active_rules",
    "candidate_for",
    "check_mark_not_duplicate",
    "check_start_dedupe",
    "check_update_rules",
    "compare_people",
    "find_possible_duplicates",
    "open_candidates",
    "profile_row",
    "rebuild_keys",
    "resolve_person_id",
    "run_duplicate_detection",
    "source_profiles",
    "stored_profiles",
    "write_candidate_report",
    "write_profiles",
]
