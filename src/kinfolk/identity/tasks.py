"""The batch duplicate run as a background job (kinfolk.core.jobs).

The job is idempotent: it computes the open candidate pairs afresh and replaces the old ones in one
transaction at the end, so a worker killed mid-run leaves the previous pairs in place and the job,
queued again, simply runs again.
"""

from django.utils.translation import gettext as _

from kinfolk.core.jobs import enqueue_job, job_handler


@job_handler("dedupe")
def dedupe_job(context, *, rebuild=False):
    """Run duplicate detection over the whole database, reporting pairs scored; the result is the counts."""
    from kinfolk.identity.services import run_duplicate_detection

    context.log(_("Looking for duplicate people."))
    result = run_duplicate_detection(
        rebuild=rebuild,
        progress=context.progress,
        check_cancelled=context.check_cancelled,
        actor=context.actor,
    )
    context.log(
        _("Compared %(pairs)d pairs; %(found)d possible duplicates.")
        % {"pairs": result["pairs_compared"], "found": result["candidates"]}
    )
    return result


def start_dedupe(*, actor, rebuild=False):
    """Queue a duplicate run; it starts once the surrounding transaction commits."""
    return enqueue_job("dedupe", params={"rebuild": bool(rebuild)}, actor=actor, label=_("Duplicate search"))


def job_of_latest_run():
    """The latest duplicate run, if any."""
    from kinfolk.core.models import Job

    return Job.objects.filter(kind="dedupe").order_by("-id").first()
