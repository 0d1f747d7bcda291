"""Imports as background jobs (kinfolk.core.jobs).

The job is idempotent and resumable: run_import starts from the run's checkpoint, so a worker
killed mid-import is replaced by another that finishes with every row written exactly once.
"""

from django.utils.translation import gettext as _

from kinfolk.core.jobs import enqueue_job, job_handler
from kinfolk.imports.engine import run_import
from kinfolk.imports.models import ImportRun
from kinfolk.imports.services import do_undo_import


@job_handler("import")
def import_job(context, *, import_id, batch_size=None):
    """Run or resume ImportRun `import_id`, reporting rows done; the result is the run's summary."""
    expected = ImportRun.objects.filter(pk=import_id).values_list("rows_expected", flat=True).first()

    def progress(state):
        context.progress(state.rows_done, expected)

    options = {"batch_size": batch_size} if batch_size else {}
    run = run_import(import_id, progress=progress, **options)
    context.progress(run.rows_done, run.rows_done)
    return {"import_id": run.pk, "dry_run": run.dry_run, **run.summary()}


def start_import(run, *, actor, batch_size=None):
    """Queue an import (or its preview) as a background job; it starts once the transaction commits."""
    label = (_("Preview of %(file)s") if run.dry_run else _("Import of %(file)s")) % {"file": run.file_name}
    params = {"import_id": run.pk, **({"batch_size": batch_size} if batch_size else {})}
    return enqueue_job("import", params=params, actor=actor, team=run.team, label=label)


@job_handler("import_undo")
def undo_import_job(context, *, import_id):
    """Undo ImportRun `import_id` (or resume undoing it); the result is what was removed, restored and kept."""
    run = ImportRun.objects.get(pk=import_id)
    expected = run.created + run.flagged + run.updated  # people to remove, then audit records to go through
    return do_undo_import(
        run, actor=context.actor, progress=lambda done: context.progress(done, max(done, expected))
    )


def start_undo(run, *, actor):
    """Queue the undoing of an import as a background job; it starts once the transaction commits."""
    label = _("Undo of the import of %(file)s") % {"file": run.file_name}
    return enqueue_job("import_undo", params={"import_id": run.pk}, actor=actor, team=run.team, label=label)


def job_of(run, kind="import"):
    """The latest job that ran this import (kind "import") or undid it ("import_undo"), if any."""
    from kinfolk.core.models import Job

    return Job.objects.filter(kind=kind, params__import_id=run.pk).order_by("-id").first()
