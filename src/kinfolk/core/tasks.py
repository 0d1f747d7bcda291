"""The one task Kinfolk gives the task backend: run a Job (see kinfolk.core.jobs)."""

from django.conf import settings
from django_tasks import task


@task(queue_name=settings.KINFOLK_JOB_QUEUE)
def run_job(job_id):
    """Run the queued Job `job_id`; returns its final status."""
    from kinfolk.core.jobs import execute_job

    return execute_job(job_id)
