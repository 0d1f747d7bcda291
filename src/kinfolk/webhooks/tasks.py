"""Background delivery: a job sends due deliveries; every worker's periodic sweep queues one when some are due.

This needs no scheduler (RQ's or another): retries are rows with a due time, and whichever worker
runs next picks them up, on the database queue and on Redis/RQ alike.
"""

from django.utils import timezone
from django.utils.translation import gettext as _

from kinfolk.core.jobs import enqueue_job, every_worker_cycle, job_handler
from kinfolk.core.models import Job

DELIVER = "webhooks.deliver"


@job_handler(DELIVER)
def deliver_job(context):
    """Send due deliveries until none is due; retries due later are left to a later job."""
    from kinfolk.webhooks.delivery import deliver_due

    total = 0
    while True:
        context.check_cancelled()
        sent = deliver_due(now=timezone.now())
        if not sent:
            break
        total += sent
        context.progress(total)
    context.log(_("%(count)s deliveries attempted.") % {"count": total})
    return {"attempted": total}


def ensure_delivery_job():
    """Queue a delivery job when deliveries are due and no delivery job is waiting or running."""
    from kinfolk.access.actors import SYSTEM
    from kinfolk.webhooks.models import WebhookDelivery

    if Job.objects.filter(kind=DELIVER, status__in=(Job.Status.QUEUED, Job.Status.RUNNING)).exists():
        return None
    if not WebhookDelivery.objects.due(timezone.now()).exists():
        return None
    return enqueue_job(DELIVER, actor=SYSTEM, label=str(_("Deliver webhooks")))


@every_worker_cycle
def sweep_due_deliveries():
    """Run by every worker about twice a minute: retries that became due get a job."""
    ensure_delivery_job()
