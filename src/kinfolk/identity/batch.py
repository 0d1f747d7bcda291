"""The batch run's inner loop: candidate pairs from sorted blocking keys, scored on every core.

Pure functions over plain values, so that the database run (services.run_duplicate_detection),
the benchmark and the tests share them. Pairs are ints `a << 32 | b` (a < b): a set of millions
of them is a third of the memory of tuples.
"""

import multiprocessing
import os

# Kinds whose block sizes say how many people share a value (the scorer's frequency adjustment).
COUNTED_KINDS = ("email", "phone", "address", "name")
_SHIFT = 32
_MASK = (1 << _SHIFT) - 1


def pair_of(code):
    """(a, b) of a pair code."""
    return code >> _SHIFT, code & _MASK


def pair_code(a, b):
    """The code of the pair of people a < b."""
    return a << _SHIFT | b


def collect_pairs(rows, *, cap, caps=None):
    """(pairs, counts) from (kind, value, person_id) rows sorted by kind and value.

    pairs: {a << 32 | b} of people sharing a block of at most `cap` people (`caps` may set
    another limit for a kind: {"name": 10}); counts:
    {(kind, value): people} for values of the counted kinds that three or more people share
    (a value two people share is the default: the scorer's lookups fall back to 2).
    """
    pairs = set()
    counts = {}
    add = pairs.add
    caps = caps or {}
    current = None
    ids = []

    def close():
        n = len(ids)
        if n < 2:
            return
        kind, value = current
        if n > 2 and kind in COUNTED_KINDS:
            counts[current] = n
        if n > caps.get(kind, cap):
            return
        ordered = sorted(ids)
        for i, a in enumerate(ordered):
            high = a << _SHIFT
            for b in ordered[i + 1 :]:
                if b != a:
                    add(high | b)

    for kind, value, pk in rows:
        key = (kind, value)
        if key != current:
            close()
            current, ids = key, [pk]
        else:
            ids.append(pk)
    if current is not None:
        close()
    return pairs, counts


# State shared with forked workers (read-only, inherited copy-on-write).
_STATE = {}


def _score_range(bounds):
    start, stop = bounds
    pairs, profiles, scorer, counts, threshold = (
        _STATE["pairs"],
        _STATE["profiles"],
        _STATE["scorer"],
        _STATE["counts"],
        _STATE["threshold"],
    )
    lookup = counts.get

    def holders(kind, value):
        return lookup((kind, value), 2)

    found = []
    compare = scorer.compare
    for code in pairs[start:stop]:
        p = profiles.get(code >> _SHIFT)
        q = profiles.get(code & _MASK)
        if p is None or q is None:
            continue
        score, findings = compare(p, q, holders)
        if score >= threshold:
            found.append((p.id, q.id, score, findings))
    return found


def score_pairs(pairs, profiles, scorer, counts, threshold, *, workers=None, progress=None, step=200_000):
    """[(a, b, score, findings)] of the pairs scoring at least threshold, best first.

    With more than one worker the pairs are split among forked processes that inherit the profiles
    (no copying, no database access in the workers).
    """
    pairs = pairs if isinstance(pairs, list) else list(pairs)
    total = len(pairs)
    bounds = [(i, min(i + step, total)) for i in range(0, total, step)]
    workers = workers or default_workers()
    _STATE.update(pairs=pairs, profiles=profiles, scorer=scorer, counts=counts, threshold=threshold)
    found = []
    try:
        if workers > 1 and total > step and "fork" in multiprocessing.get_all_start_methods():
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                for (_start, stop), part in zip(bounds, pool.imap(_score_range, bounds), strict=True):
                    found.extend(part)
                    if progress:
                        progress(stop, total)
        else:
            for start, stop in bounds:
                found.extend(_score_range((start, stop)))
                if progress:
                    progress(stop, total)
    finally:
        _STATE.clear()
    found.sort(key=lambda x: (-x[2], x[0], x[1]))
    return found


def default_workers():
    """One worker per core this process may use (KINFOLK_DEDUPE_WORKERS overrides)."""
    configured = os.environ.get("KINFOLK_DEDUPE_WORKERS")
    if configured:
        return max(1, int(configured))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
