"""The duplicate review queue: pairs best first, a pair side by side, merge / not the same person / undo.

Every page works with plain forms (post/redirect/get); static/web/review.js adds the keys (m, n, j, k,
u, ?) for working through hundreds of pairs. Decisions go through the identity services, whose
permission errors are shown as messages, never as a server error.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kinfolk.core.models import Job
from kinfolk.identity.merge import MERGE_FIELDS, check_merge_people, check_undo_merge, preview_merge
from kinfolk.identity.models import MergeRecord
from kinfolk.identity.services import (
    candidate_for,
    check_mark_not_duplicate,
    check_start_dedupe,
    compare_people,
    open_candidates,
)
from kinfolk.identity.tasks import job_of_latest_run
from kinfolk.people.models import Person
from kinfolk.web.views.common import as_id, error_dict, visible_or_404

PAGE_SIZE = 50


def _cursor(candidate):
    return f"{candidate.score!r}_{candidate.first_id}_{candidate.second_id}"


def _parse_cursor(raw):
    try:
        score, first, second = str(raw).split("_")
        return float(score), as_id(first), as_id(second)
    except (TypeError, ValueError):
        return None


def _after(queryset, score, first, second):
    """Pairs after (score, first, second) in the queue's order: best score first, then by ids."""
    return queryset.filter(
        Q(score__lt=score)
        | Q(score=score, first_id__gt=first)
        | Q(score=score, first_id=first, second_id__gt=second)
    )


def _before(queryset, score, first, second):
    return queryset.filter(
        Q(score__gt=score)
        | Q(score=score, first_id__lt=first)
        | Q(score=score, first_id=first, second_id__lt=second)
    ).order_by("score", "-first_id", "-second_id")


def _pair_url(first_id, second_id, **query):
    url = reverse("web:duplicate_pair", args=[first_id, second_id])
    extra = "&".join(f"{k}={v}" for k, v in query.items() if v)
    return f"{url}?{extra}" if extra else url


def _run_context(actor):
    can_run = actor.is_org_admin
    job = job_of_latest_run() if can_run else None
    return {
        "can_run": can_run,
        "run": job,
        "running": job is not None and job.status not in Job.FINISHED,
        "percent": (
            round(100 * job.progress_done / job.progress_total)
            if job is not None and job.progress_total
            else None
        ),
    }


@login_required
def queue(request):
    """Open pairs the user may see, best score first, 50 a page; the batch run for administrators."""
    actor = request.user
    if request.htmx and request.htmx.target == "dedupe-run":
        return render(request, "web/partials/dedupe_run.html", _run_context(actor))
    candidates = open_candidates(actor=actor)
    position = _parse_cursor(request.GET.get("after")) if request.GET.get("after") else None
    if position:
        candidates = _after(candidates, *position)
    page = list(candidates[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    people = Person.objects.visible_to(actor).in_bulk({pk for c in page for pk in (c.first_id, c.second_id)})
    rows = [
        {"candidate": c, "first": people.get(c.first_id), "second": people.get(c.second_id)}
        for c in page
        if c.first_id in people and c.second_id in people
    ]
    context = {
        "rows": rows,
        "next_cursor": _cursor(page[-1]) if more else None,
        "paged": bool(position),
        "merged": _merge_notice(request),
        **_run_context(actor),
    }
    return render(request, "web/duplicates.html", context)


@login_required
@require_POST
def start_run(request):
    """Start the search of the whole database for duplicates (a background job)."""
    try:
        check_start_dedupe(actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("The search for duplicates has started."))
    return redirect("web:duplicates")


def _merge_notice(request):
    """The merge just made (?merged=<id>), shown with a link to the survivor and an undo button."""
    pk = as_id(request.GET.get("merged"))
    if not pk:
        return None
    record = MergeRecord.objects.filter(pk=pk, undone_at__isnull=True).first()
    if record is None:
        return None
    survivor = Person.objects.visible_to(request.user).filter(pk=record.survivor_id).first()
    if survivor is None:
        return None
    return {"record": record, "survivor": survivor}


def _neighbours(actor, first, second):
    """(previous pair, next pair) around this one in the queue; the first pair is next to a pair not in it."""
    queue_ = open_candidates(actor=actor)
    candidate = candidate_for(first, second)
    if candidate is None:
        return None, queue_.first()
    key = (candidate.score, candidate.first_id, candidate.second_id)
    return _before(queue_, *key).first(), _after(queue_, *key).first()


def _display(value):
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(getattr(value, "name", None) or value) if hasattr(value, "code") else str(value)


@login_required
def pair(request, first, second):
    """Two people side by side: differences marked, the score and its reasons, a choice per field."""
    actor = request.user
    if first == second:
        raise Http404
    a = visible_or_404(Person, actor, first)
    b = visible_or_404(Person, actor, second)
    comparison = compare_people(a, b, actor=actor)
    preview = preview_merge(a, b, actor=actor)
    rows = []
    for name in MERGE_FIELDS:
        mine, theirs = _display(getattr(a, name)), _display(getattr(b, name))
        _value, pick, why = preview[name]
        rows.append(
            {
                "name": name,
                "label": Person._meta.get_field(name).verbose_name,
                "first": mine,
                "second": theirs,
                "differs": mine != theirs,
                "pick": pick,
                "why": why,
            }
        )
    details = [
        (label, *comparison.details[kind])
        for kind, label in (
            ("emails", _("Emails")),
            ("phones", _("Phones")),
            ("addresses", _("Addresses")),
            ("external_ids", _("External ids")),
        )
    ]
    previous, following = _neighbours(actor, a, b)
    candidate = candidate_for(a, b)
    context = {
        "first": a,
        "second": b,
        "comparison": comparison,
        "rows": rows,
        "details": details,
        "candidate": candidate,
        "previous": previous,
        "next": following,
        "can_merge": a.allows(actor, "change") and b.allows(actor, "change") or actor.is_org_admin,
        "merged": _merge_notice(request),
    }
    return render(request, "web/duplicate_pair.html", context)


def _go_next(request, a, b, **query):
    """After a decision: the next open pair in the queue (after this one), else the queue."""
    _previous, following = _neighbours(request.user, a, b)
    if following is None:
        following = open_candidates(actor=request.user).first()
    if following is None:
        url = reverse("web:duplicates")
        extra = "&".join(f"{k}={v}" for k, v in query.items() if v)
        return redirect(f"{url}?{extra}" if extra else url)
    return redirect(_pair_url(following.first_id, following.second_id, **query))


def _failed(request, exc, a, b):
    messages.error(request, " ".join(m for ms in error_dict(exc).values() for m in ms))
    return redirect(_pair_url(a.pk, b.pk))


@login_required
@require_POST
def merge(request, first, second):
    """Merge the second person into the first, with the surviving value chosen per field."""
    a = visible_or_404(Person, request.user, first)
    b = visible_or_404(Person, request.user, second)
    choices = {
        name: request.POST[f"choice_{name}"] for name in MERGE_FIELDS if request.POST.get(f"choice_{name}")
    }
    try:
        record = check_merge_people(a, b, choices=choices, actor=request.user)
    except (ValidationError, PermissionDenied) as exc:
        return _failed(request, exc, a, b)
    messages.success(request, _("%(merged)s was merged into %(survivor)s.") % {"merged": b, "survivor": a})
    return _go_next(request, a, b, merged=record.pk)


@login_required
@require_POST
def not_duplicate(request, first, second):
    """Remember that the two are not the same person, and go on to the next pair."""
    a = visible_or_404(Person, request.user, first)
    b = visible_or_404(Person, request.user, second)
    try:
        check_mark_not_duplicate((a, b), actor=request.user)
    except (ValidationError, PermissionDenied) as exc:
        return _failed(request, exc, a, b)
    messages.success(
        request, _("%(first)s and %(second)s are not the same person.") % {"first": a, "second": b}
    )
    return _go_next(request, a, b)


@login_required
@require_POST
def undo_merge(request, pk):
    """Undo a merge: both people come back as they were; then back to their pair."""
    record = MergeRecord.objects.filter(pk=pk).first()
    if record is None or not Person.objects.visible_to(request.user).filter(pk=record.survivor_id).exists():
        raise Http404
    try:
        check_undo_merge(record, actor=request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(m for ms in error_dict(exc).values() for m in ms))
        return redirect("web:person", pk=record.survivor_id)
    messages.success(request, _("The merge was undone."))
    return redirect(_pair_url(record.survivor_id, record.merged_id))
