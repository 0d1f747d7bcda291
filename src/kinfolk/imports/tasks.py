"""Imports as background jobs (kinfolk.core.jobs).

The job is idempotent and resumable: run_import starts from the run's checkpoint, so a worker
killed mid-import is replaced by another that finishes with every row written exactly once.
"""

from django.utils.translation import gettext as _

from kinfolk.core.jobs import enqueue_job, job_handler
from kinfolk.imports.engine import run_import
from kinfolk.imports.models import ImportRun


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


def job_of(run):
    """The latest job that ran this import, if any."""
    from kinfolk.core.models import Job

    return Job.objects.filter(kind="import", params__import_id=run.pk).order_by("-id").first()
