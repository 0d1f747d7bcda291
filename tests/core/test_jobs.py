"""Background jobs: queued after commit, run once with their actor, progress and log, failures kept,
stalled jobs recovered, and a worker killed mid-import replaced without losing or doubling anyone."""

import contextlib
import os
import signal
import time

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from kinfolk.access.actors import SYSTEM
from kinfolk.core.jobs import (
    check_cancel_job,
    enqueue_job,
    execute_job,
    job_handler,
    recover_stalled_jobs,
    run_pending_jobs,
)
from kinfolk.core.models import ChangeRecord, Job
from kinfolk.people.models import Person
from tests.conftest import make_user
from tests.processes import kinfolk_install

CALLS = []


@job_handler("test.create_person")
def _create_person(context, *, given_name, steps=3):
    from kinfolk.people.services import check_create_person

    CALLS.append(given_name)
    for step in range(steps):
        context.progress(step + 1, steps)
    context.log(f"creating {given_name}")
    person = check_create_person(data={"given_name": given_name}, actor=context.actor)
    return {"person_id": person.pk}


@job_handler("test.fail")
def _fail(context):
    raise ValueError("the file is not there")


@pytest.fixture(autouse=True)
def _forget_calls():
    CALLS.clear()


def _enqueue(django_capture_on_commit_callbacks, kind, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        return enqueue_job(kind, **kwargs)


@pytest.mark.django_db
def test_a_job_runs_once_as_its_actor_with_progress_log_result_and_audit(
    django_capture_on_commit_callbacks, team_a
):
    # given a member of team A who starts a job
    user = make_user("starter", teams=[(team_a, "member")])
    job = _enqueue(
        django_capture_on_commit_callbacks,
        "test.create_person",
        params={"given_name": "Ada"},
        actor=user,
        team=team_a,
    )
    assert (job.status, job.created_by, job.team, job.source) == ("queued", user, team_a, "shell")
    # when the worker runs the queue
    run_pending_jobs()
    # then the job is done with its result, full progress and its log line
    job.refresh_from_db()
    person = Person.objects.get(given_name="Ada")
    assert job.status == "done"
    assert job.result == {"person_id": person.pk}
    assert (job.progress_done, job.progress_total, job.percent_done, job.attempts) == (3, 3, 100, 1)
    assert [line["message"] for line in job.log] == ["creating Ada"]
    assert job.started_at <= job.finished_at
    # and the person's creation is audited as the user, through the job
    record = ChangeRecord.objects.get(object_id=person.pk, action="create", object_type__model="person")
    assert (record.user, record.source, record.via, record.request_id) == (
        user,
        "job",
        f"job {job.pk}",
        f"job-{job.pk}",
    )
    # and running the same task again (a redelivery) does nothing
    assert execute_job(job.pk) == "done"
    assert CALLS == ["Ada"]


@pytest.mark.django_db(transaction=True)
def test_a_job_is_submitted_only_when_its_transaction_commits():
    # given a job enqueued in a transaction that rolls back
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue_job("test.create_person", params={"given_name": "Ghost"}, actor=SYSTEM)
        raise RuntimeError("rolled back")
    # then neither the job nor a task for it exists, and nothing runs
    run_pending_jobs()
    assert not Job.objects.exists()
    assert CALLS == []
    # while one enqueued in a committed transaction runs
    with transaction.atomic():
        job = enqueue_job("test.create_person", params={"given_name": "Real"}, actor=SYSTEM)
    run_pending_jobs()
    assert Job.objects.get(pk=job.pk).status == "done"
    assert CALLS == ["Real"]


@pytest.mark.django_db
def test_a_failing_job_records_its_error_and_the_next_job_still_runs(django_capture_on_commit_callbacks):
    failing = _enqueue(django_capture_on_commit_callbacks, "test.fail", actor=SYSTEM)
    fine = _enqueue(
        django_capture_on_commit_callbacks, "test.create_person", params={"given_name": "B"}, actor=SYSTEM
    )
    run_pending_jobs()
    failing.refresh_from_db()
    assert failing.status == "failed"
    assert failing.error == "ValueError: the file is not there"
    assert failing.log[-1]["level"] == "error"
    assert Job.objects.get(pk=fine.pk).status == "done"


@pytest.mark.django_db
def test_an_unknown_kind_is_refused_when_enqueued():
    with pytest.raises(ValueError, match="no job handler for 'no.such'"):
        enqueue_job("no.such", actor=SYSTEM)


@pytest.mark.django_db
def test_a_cancelled_queued_job_never_runs(django_capture_on_commit_callbacks, team_a):
    user = make_user("canceller", teams=[(team_a, "member")])
    other = make_user("other", teams=[(team_a, "member")])
    job = _enqueue(
        django_capture_on_commit_callbacks, "test.create_person", params={"given_name": "C"}, actor=user
    )
    # someone else may not cancel it
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        check_cancel_job(job, actor=other)
    assert check_cancel_job(job, actor=user).status == "cancelled"
    run_pending_jobs()
    assert CALLS == []
    assert Job.objects.get(pk=job.pk).status == "cancelled"


@pytest.mark.django_db
def test_a_running_job_whose_worker_went_silent_is_queued_again_and_finished(
    django_capture_on_commit_callbacks,
):
    from django.utils import timezone

    # given a job a worker took from the queue and then died on (heartbeat two minutes old)
    job = _enqueue(
        django_capture_on_commit_callbacks, "test.create_person", params={"given_name": "D"}, actor=SYSTEM
    )
    stale = timezone.now() - timezone.timedelta(seconds=120)
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=stale, attempts=1, worker="gone:1")
    # and a fresh running job that must be left alone
    busy = _enqueue(
        django_capture_on_commit_callbacks, "test.create_person", params={"given_name": "E"}, actor=SYSTEM
    )
    Job.objects.filter(pk=busy.pk).update(status="running", heartbeat_at=timezone.now(), worker="alive:2")
    DBTaskResult.objects.all().delete()  # the workers took both tasks from the queue
    # when recovery runs (as every worker does on start and every half minute)
    with django_capture_on_commit_callbacks(execute=True):
        assert recover_stalled_jobs(stale_after=60) == [job.pk]
    assert DBTaskResult.objects.count() == 1
    run_pending_jobs()
    # then the stalled job finished on its second attempt, and the live one was not touched
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("done", 2)
    assert "queued again" in job.log[0]["message"]
    assert Job.objects.get(pk=busy.pk).status == "running"
    assert CALLS == ["D"]


@pytest.mark.django_db
def test_jobs_are_visible_to_their_starter_and_administrators(
    django_capture_on_commit_callbacks, team_a, admin
):
    user = make_user("mine", teams=[(team_a, "member")])
    other = make_user("theirs", teams=[(team_a, "member")])
    job = _enqueue(django_capture_on_commit_callbacks, "test.fail", actor=user)
    assert list(Job.objects.visible_to(user)) == [job]
    assert list(Job.objects.visible_to(other)) == []
    assert list(Job.objects.visible_to(admin)) == [job]


def _write_people_csv(path, count):
    lines = ["First Name,Last Name,Email"]
    lines += [f"Given{i},Family{i},person{i}@example.org" for i in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _queue_import(install, path, batch_size):
    code = (
        "from kinfolk.access.actors import SYSTEM\n"
        "from kinfolk.imports.services import check_create_import\n"
        "from kinfolk.imports.tasks import start_import\n"
        f"run = check_create_import(path={str(path)!r}, actor=SYSTEM)\n"
        f"job = start_import(run, actor=SYSTEM, batch_size={batch_size})\n"
        "print('JOB', job.pk, run.pk)\n"
    )
    result = install.run("shell", "-c", code)
    assert result.returncode == 0, result.stderr
    job_id, import_id = result.stdout.split("JOB", 1)[1].split()
    return int(job_id), int(import_id)


@pytest.mark.slow_cli
@pytest.mark.parametrize("kill_after_rows", [100, 1500])
def test_a_worker_killed_mid_import_is_replaced_and_the_import_finishes_exactly_once(
    tmp_path, kill_after_rows
):
    rows = 3000
    fast_beats = {"KINFOLK_JOB_HEARTBEAT_SECONDS": "0.2", "KINFOLK_JOB_STALE_SECONDS": "1"}
    with kinfolk_install(tmp_path) as install:
        assert install.run("init").returncode == 0
        job_id, import_id = _queue_import(install, _write_people_csv(tmp_path / "people.csv", rows), 50)
        # given a worker that is running the import
        with install.started("worker", "--quiet", **fast_beats) as worker:
            deadline = time.monotonic() + 120
            checkpoint = 0
            while time.monotonic() < deadline and worker.poll() is None:
                checkpoint = install.value(
                    "SELECT checkpoint_row FROM imports_importrun WHERE id = ?", (import_id,)
                )
                if checkpoint >= kill_after_rows:
                    break
                time.sleep(0.01)
            # when it is killed outright, mid-import
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        status = install.value("SELECT status FROM core_job WHERE id = ?", (job_id,))
        assert status == "running", "the import finished before the worker could be killed"
        assert 0 < checkpoint < rows
        # and another worker starts once the first one's heartbeat is stale
        time.sleep(1.5)
        rerun = install.run("worker", "--batch", "--quiet", **fast_beats)
        assert rerun.returncode == 0, rerun.stderr
        # then the job is done on its second attempt and every row became exactly one person
        assert install.query("SELECT status, attempts FROM core_job WHERE id = ?", (job_id,)) == [("done", 2)]
        assert install.value("SELECT count(*) FROM people_person") == rows
        assert install.value("SELECT count(DISTINCT normalized) FROM people_emailaddress") == rows
        assert install.query(
            "SELECT created, rejected, status FROM imports_importrun WHERE id = ?", (import_id,)
        ) == [(rows, 0, "done")]


@contextlib.contextmanager
def _redis_keys_removed(url, name):
    """Remove the queue's keys (queue, registries) from the shared Redis afterwards."""
    import redis

    try:
        yield
    finally:
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"*{name}*"))
        if keys:
            client.delete(*keys)


@pytest.mark.slow_cli
def test_jobs_run_on_redis_workers_when_kinfolk_redis_url_is_set(tmp_path):
    import uuid

    redis_url = os.environ.get("KINFOLK_TEST_REDIS_URL")
    if not redis_url:
        pytest.skip("KINFOLK_TEST_REDIS_URL is not set (CI sets it)")
    name = f"kinfolk-test-{uuid.uuid4().hex}"
    queue = {"KINFOLK_REDIS_URL": redis_url, "KINFOLK_JOB_QUEUE": name}
    with kinfolk_install(tmp_path) as install, _redis_keys_removed(redis_url, name):
        assert install.run("init").returncode == 0
        path = _write_people_csv(tmp_path / "people.csv", 40)
        code = (
            "from kinfolk.access.actors import SYSTEM\n"
            "from kinfolk.imports.services import check_create_import\n"
            "from kinfolk.imports.tasks import start_import\n"
            f"run = check_create_import(path={str(path)!r}, actor=SYSTEM)\n"
            "print('JOB', start_import(run, actor=SYSTEM).pk)\n"
        )
        queued = install.run("shell", "-c", code, **queue)
        assert queued.returncode == 0, queued.stderr
        job_id = int(queued.stdout.split("JOB", 1)[1].split()[0])
        # nothing runs the job until a worker does: the database queue is not used
        assert install.value("SELECT count(*) FROM django_tasks_database_dbtaskresult") == 0
        worked = install.run("worker", "--batch", "--quiet", **queue)
        assert worked.returncode == 0, worked.stderr
        assert install.value("SELECT status FROM core_job WHERE id = ?", (job_id,)) == "done"
        assert install.value("SELECT count(*) FROM people_person") == 40
