"""Background jobs: one Job row per piece of work, run by a worker through Django's Tasks API.

`enqueue_job()` records a Job and, once the transaction commits, asks the task backend (the
database by default, Redis/RQ when KINFOLK_REDIS_URL is set) to run `kinfolk.core.tasks.run_job`
for it. The worker calls `execute_job()`, which claims the job, runs the handler registered for its
kind with the actor who started it and a `JobContext` for progress and log, and records the result.

A worker that dies mid-job leaves the job 'running' with a heartbeat that stops moving.
`recover_stalled_jobs()`, run by every worker when it starts and then every half minute, queues
such a job again; handlers resume from their own checkpoint (an import from its last committed
batch), so a killed worker neither loses nor repeats work. A task delivered twice does nothing the
second time: only a queued job can be claimed.
"""

import datetime
import logging
import os
import socket
import threading
import time
import traceback

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from kinfolk.core.audit import actor_user
from kinfolk.core.context import acting, current_via
from kinfolk.core.models import Job

log = logging.getLogger("kinfolk.jobs")
HANDLERS = {}
PERIODIC = []  # callables every worker runs with its recovery sweep (about twice a minute)
LOG_LIMIT = 500  # log lines kept per job; older ones are dropped with a note


class JobCancelled(Exception):
    """Raised inside a handler (by JobContext.check_cancelled) when a user cancelled the job."""


def job_handler(kind):
    """Register `func(context, **params)` as the handler of jobs of `kind`; its return value is the result."""

    def register(func):
        HANDLERS[kind] = func
        return func

    return register


def every_worker_cycle(func):
    """Register `func()` to run in every worker's recovery loop: periodic work without a scheduler."""
    PERIODIC.append(func)
    return func


def run_periodic():
    """Run the registered periodic callables; one failing stops neither the others nor the worker."""
    for func in list(PERIODIC):
        try:
            func()
        except Exception:
            log.warning("periodic task %r failed", func, exc_info=True)


def _seconds(name, default):
    return float(getattr(settings, name, default))


def heartbeat_seconds():
    return _seconds("KINFOLK_JOB_HEARTBEAT_SECONDS", 10)


def stale_seconds():
    return _seconds("KINFOLK_JOB_STALE_SECONDS", 60)


def enqueue_job(kind, *, params=None, actor, team=None, label=""):
    """Record a job of `kind` for `actor` and submit it to the task backend once this transaction commits."""
    if kind not in HANDLERS:
        raise ValueError(f"no job handler for {kind!r}; known: {', '.join(sorted(HANDLERS))}")
    job = Job.objects.create(
        kind=kind,
        label=label[:200],
        params=dict(params or {}),
        created_by=actor_user(actor),
        team=team,
        source=current_via().source,
        heartbeat_at=timezone.now(),
    )
    transaction.on_commit(lambda: submit(job.pk))
    return job


def submit(job_id):
    """Hand a queued job to the task backend; if the backend is down, recovery submits it later."""
    from kinfolk.core.tasks import run_job

    try:
        run_job.enqueue(job_id)
    except Exception:
        log.exception("could not submit job %s to the task backend; it stays queued", job_id)
        append_log(job_id, "Could not reach the task queue; the job will be submitted again.", "warning")


def append_log(job_id, message, level="info"):
    """Add a line to a job's log (kept to the last LOG_LIMIT lines)."""
    with transaction.atomic():
        job = Job.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return
        lines = list(job.log or [])
        lines.append({"time": timezone.now().isoformat(), "level": level, "message": str(message)[:2000]})
        if len(lines) > LOG_LIMIT:
            lines = [
                {"time": lines[0]["time"], "level": "info", "message": "(earlier lines dropped)"}
            ] + lines[-LOG_LIMIT + 1 :]
        Job.objects.filter(pk=job_id).update(log=lines)


class JobContext:
    """What a handler gets: who it acts for, and how to report progress, log lines and cancellation."""

    PROGRESS_EVERY = 0.5  # seconds between progress writes

    def __init__(self, job, actor):
        self.job = job
        self.actor = actor
        self._last_write = 0.0
        self._last_cancel_check = 0.0

    def progress(self, done, total=None):
        """Report progress; written at most twice a second, and always when done reaches total."""
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - self._last_write < self.PROGRESS_EVERY:
            return
        self._last_write = now
        changes = {"progress_done": done, "heartbeat_at": timezone.now()}
        if total is not None:
            changes["progress_total"] = total
        Job.objects.filter(pk=self.job.pk).update(**changes)

    def log(self, message, level="info"):
        append_log(self.job.pk, message, level)

    def check_cancelled(self):
        """Raise JobCancelled if a user asked to cancel (checked at most once a second)."""
        now = time.monotonic()
        if now - self._last_cancel_check < 1.0:
            return
        self._last_cancel_check = now
        if Job.objects.filter(pk=self.job.pk, cancel_requested=True).exists():
            raise JobCancelled()


class _Heartbeat:
    """A thread that keeps a running job's heartbeat fresh while its handler works."""

    def __init__(self, job_id):
        self.job_id = job_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"job-{job_id}-heartbeat", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)

    def _beat(self):
        try:
            while not self.stop.wait(heartbeat_seconds()):
                try:
                    Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a busy database delays a beat; the next one follows
                    log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
        finally:
            connections.close_all()


def worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def execute_job(job_id):
    """Claim and run a queued job; returns its final status (a job that is not queued is left alone)."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        worker=worker_name(),
    )
    if not claimed:
        job = Job.objects.filter(pk=job_id).first()
        return job.status if job else "missing"
    job = Job.objects.select_related("created_by").get(pk=job_id)
    if job.started_at is None:
        Job.objects.filter(pk=job_id).update(started_at=now)
    if job.attempts > 1:
        append_log(job_id, f"Resumed by worker {job.worker} (attempt {job.attempts}).")
    if job.cancel_requested:
        return _finish(job_id, Job.Status.CANCELLED)
    handler = HANDLERS.get(job.kind)
    if handler is None:
        return _finish(job_id, Job.Status.FAILED, error=f"No handler for jobs of kind {job.kind!r}.")
    from kinfolk.access.actors import SYSTEM

    context = JobContext(job, job.created_by or SYSTEM)
    try:
        with _Heartbeat(job_id), acting("job", job=str(job_id), request_id=f"job-{job_id}"):
            result = handler(context, **job.params)
    except JobCancelled:
        return _finish(job_id, Job.Status.CANCELLED)
    except Exception as exc:
        log.exception("job %s (%s) failed", job_id, job.kind)
        append_log(job_id, "".join(traceback.format_exception_only(exc)).strip(), "error")
        return _finish(job_id, Job.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    except BaseException:
        # The worker is being stopped (Ctrl-C twice, SystemExit): hand the job to the next worker.
        Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(status=Job.Status.QUEUED, worker="")
        submit(job_id)
        raise
    return _finish(job_id, Job.Status.DONE, result=result)


def _finish(job_id, status, *, result=None, error=""):
    changes = {"status": status, "finished_at": timezone.now(), "error": error[:10000], "worker": ""}
    if status == Job.Status.DONE:
        changes["result"] = result
        changes["progress_done"] = Coalesce(F("progress_total"), F("progress_done"))
    Job.objects.filter(pk=job_id).update(**changes)
    return status


def recover_stalled_jobs(stale_after=None):
    """Queue again the running jobs whose worker stopped beating, and resubmit long-forgotten queued ones.

    Returns the ids of the jobs submitted again.
    """
    stale_after = stale_seconds() if stale_after is None else stale_after
    now = timezone.now()
    running_cutoff = now - datetime.timedelta(seconds=stale_after)
    # A queued job waits its turn; only one unclaimed for ten stale periods lost its task.
    queued_cutoff = now - datetime.timedelta(seconds=stale_after * 10)
    recovered = []
    candidates = list(
        Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=running_cutoff).values_list(
            "pk", flat=True
        )
    ) + list(
        Job.objects.filter(status=Job.Status.QUEUED, heartbeat_at__lt=queued_cutoff).values_list(
            "pk", flat=True
        )
    )
    for job_id in candidates:
        with transaction.atomic():
            moved = (
                Job.objects.filter(pk=job_id, heartbeat_at__lt=running_cutoff)
                .exclude(status__in=Job.FINISHED)
                .update(status=Job.Status.QUEUED, heartbeat_at=now, worker="")
            )
        if moved:
            append_log(
                job_id, "Its worker stopped; queued again to resume from the last checkpoint.", "warning"
            )
            submit(job_id)
            recovered.append(job_id)
    return recovered


def check_cancel_job(job, *, actor):
    """Ask a queued or running job to stop (its starter, a manager of its team, or an administrator)."""
    from django.core.exceptions import PermissionDenied
    from django.utils.translation import gettext as _

    from kinfolk.access.models import Role

    allowed = Job.objects.visible_to(actor).filter(pk=job.pk).exists() and (
        actor.is_org_admin
        or (job.created_by_id is not None and job.created_by_id == getattr(actor, "pk", None))
        or (job.team_id is not None and actor.has_role(job.team_id, Role.MANAGER))
    )
    if not allowed:
        raise PermissionDenied(_("You may not cancel this job."))
    if job.is_finished:
        return job
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now()
    )
    append_log(job.pk, f"Cancelled by {getattr(actor, 'username', 'system')}.")
    job.refresh_from_db()
    return job


# ---- workers ------------------------------------------------------------------------------------


def uses_database_queue():
    from django_tasks import task_backends
    from django_tasks_db.backend import DatabaseBackend

    return isinstance(task_backends["default"], DatabaseBackend)


def _recovery_loop(stop):
    try:
        while not stop.wait(max(1.0, stale_seconds() / 2)):
            try:
                close_old_connections()
                recover_stalled_jobs()
            except Exception:
                log.warning("recovering stalled jobs failed", exc_info=True)
            run_periodic()
    finally:
        connections.close_all()


def run_worker(*, batch=False, interval=1.0, install_signals=True, quiet=False):
    """Run jobs until stopped (or, with batch, until the queue is empty); recover stalled jobs meanwhile."""
    recover_stalled_jobs()
    run_periodic()
    stop = threading.Event()
    watcher = threading.Thread(target=_recovery_loop, args=(stop,), name="job-recovery", daemon=True)
    watcher.start()
    try:
        if uses_database_queue():
            _run_database_worker(batch=batch, interval=interval, install_signals=install_signals)
        else:
            _run_rq_worker(batch=batch, quiet=quiet)
    finally:
        stop.set()


def _database_worker(*, batch, interval):
    from django_tasks_db.management.commands.db_worker import Worker

    return Worker(
        queue_names=[settings.KINFOLK_JOB_QUEUE],
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_name()[:64],
        excluded_queue_names=[],
    )


def _run_database_worker(*, batch, interval, install_signals):
    worker = _database_worker(batch=batch, interval=interval)
    if install_signals:
        worker.configure_signals()
    worker.run()


def _run_rq_worker(*, batch, quiet):
    from django.core.management import call_command

    # The job class of django-tasks-rq runs the Task object that its backend queued.
    call_command(
        "rqworker",
        settings.KINFOLK_JOB_QUEUE,
        burst=batch,
        with_scheduler=False,
        job_class="django_tasks_rq.backend.Job",
        verbosity=0 if quiet else 1,
    )


def run_pending_jobs():
    """Run every job waiting in the database queue, in this process and connection, then return.

    For tests and the shell: unlike a worker it never closes the database connection, so it can
    run inside a transaction (a test's).
    """
    from django_tasks_db.models import DBTaskResult

    recover_stalled_jobs()
    worker = _database_worker(batch=True, interval=0)
    while True:
        with transaction.atomic():
            task_result = (
                DBTaskResult.objects.ready()
                .filter(backend_name="default", queue_name=settings.KINFOLK_JOB_QUEUE)
                .get_locked()
            )
            if task_result is not None:
                task_result.claim(worker.worker_id)
        if task_result is None:
            return
        worker.run_task(task_result)
