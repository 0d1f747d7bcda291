"""The import wizard: upload, mapping with suggestions and sample values, preview, run, results, undo."""

import uuid
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kinfolk.access.models import Team
from kinfolk.core.context import acting
from kinfolk.imports import services
from kinfolk.imports.mapping import all_targets, check_mapping
from kinfolk.imports.models import ImportRun
from kinfolk.imports.parsers import ParsedFile
from kinfolk.imports.tasks import start_import

SAMPLE_ROWS = 3


def _run_for(request, pk):
    """An import the user may see: their own, or any for an administrator."""
    run = ImportRun.objects.select_related("team").filter(pk=pk).first()
    if run is None:
        raise Http404
    if not request.user.is_org_admin and run.created_by_id != request.user.pk:
        raise Http404
    return run


def _teams(user):
    teams = Team.objects.order_by("name")
    return teams if user.is_org_admin else teams.filter(pk__in=user.team_ids)


@login_required
def upload(request):
    """Step 1: choose a file and how to treat people Kinfolk already has."""
    errors = {}
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            errors["file"] = [_("Choose a file to import.")]
        else:
            folder = Path(settings.MEDIA_ROOT) / "imports" / uuid.uuid4().hex
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / Path(upload.name).name
            with open(path, "wb") as f:
                for chunk in upload.chunks():
                    f.write(chunk)
            team = _teams(request.user).filter(pk=request.POST.get("team") or 0).first()
            try:
                run = services.check_create_import(
                    path=path,
                    actor=request.user,
                    team=team,
                    on_match=request.POST.get("on_match", "update"),
                    strict=bool(request.POST.get("strict")),
                    default_region=request.POST.get("region", ""),
                    date_order=request.POST.get("date_order", "DMY"),
                    dry_run=True,
                )
            except (ValidationError, PermissionDenied) as exc:
                errors = getattr(exc, "message_dict", None) or {"file": [str(exc)]}
            else:
                return redirect("imports:mapping", pk=run.pk)
    recent = ImportRun.objects.filter(dry_run=False)
    if not request.user.is_org_admin:
        recent = recent.filter(created_by=request.user)
    return render(
        request,
        "imports/upload.html",
        {
            "errors": errors,
            "teams": _teams(request.user),
            "recent": recent[:10],
            "on_match": ImportRun.OnMatch,
        },
    )


@login_required
def mapping(request, pk):
    """Step 2: the suggested mapping, with sample values, to confirm or change; then the preview runs."""
    run = _run_for(request, pk)
    parsed = ParsedFile(run.file_path, run.format)
    samples = {c: [] for c in parsed.columns}
    for i, (_number, row) in enumerate(parsed.rows()):
        if i >= SAMPLE_ROWS:
            break
        for column in parsed.columns:
            samples[column].append(row.get(column, ""))
    errors = {}
    if request.method == "POST":
        chosen = {c: request.POST.get(f"map-{i}", "ignore") for i, c in enumerate(parsed.columns)}
        try:
            check_mapping(chosen, parsed.columns)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            ImportRun.objects.filter(pk=run.pk).update(mapping=chosen)
            start_import(run, actor=request.user)
            return redirect("imports:detail", pk=run.pk)
    columns = [
        {"index": i, "name": c, "target": run.mapping.get(c, "ignore"), "samples": samples[c]}
        for i, c in enumerate(parsed.columns)
    ]
    targets = list(all_targets()) + sorted({t for t in run.mapping.values() if t.startswith("external_id:")})
    return render(
        request,
        "imports/mapping.html",
        {"run": run, "columns": columns, "targets": targets, "errors": errors},
    )


@login_required
def detail(request, pk):
    """Steps 3–5: progress while it runs; then the preview, or the results with error report and undo."""
    run = _run_for(request, pk)
    running = (ImportRun.Status.PENDING, ImportRun.Status.RUNNING, ImportRun.Status.UNDOING)
    context = {"run": run, "running": run.status in running, "undo": _undo_summary(run)}
    if not context["running"]:
        context["report"] = services.preview(run, problem_limit=200)
    return render(request, "imports/detail.html", context)


def _undo_summary(run):
    """What the results page says of undoing the import: how far it got, and what it left as it was."""
    state = run.undo_state
    if not state:
        return None
    counts = {
        "removed": state["removed"],
        "restored": state["restored"],
        "conflicts": state["conflict_count"],
    }
    if run.status == ImportRun.Status.UNDOING:
        text = _("Being undone: %(removed)d people removed so far.") % counts
    else:
        text = (
            _(
                "Undone: %(removed)d people removed, %(restored)d fields restored, %(conflicts)d left as they were."
            )
            % counts
        )
    return {"text": text, "conflicts": state["conflicts"]}


@login_required
@require_POST
def start(request, pk):
    """From a preview, import for real with the same file, mapping and settings."""
    preview_run = _run_for(request, pk)
    if not preview_run.dry_run:
        return redirect("imports:detail", pk=pk)
    try:
        run = services.check_create_import(
            path=preview_run.file_path,
            actor=request.user,
            fmt=preview_run.format,
            mapping=preview_run.mapping,
            team=preview_run.team,
            on_match=preview_run.on_match,
            strict=preview_run.strict,
            default_region=preview_run.default_region,
            date_order=preview_run.date_order,
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("imports:detail", pk=pk)
    start_import(run, actor=request.user)
    return redirect("imports:detail", pk=run.pk)


@login_required
def error_report(request, pk):
    run = _run_for(request, pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{run.pk}-rejected.csv"'
    services.write_error_report(run, response)
    return response


@login_required
@require_POST
def undo(request, pk):
    run = _run_for(request, pk)
    try:
        with acting("ui"):
            services.check_undo_import(run, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("imports:detail", pk=pk)
