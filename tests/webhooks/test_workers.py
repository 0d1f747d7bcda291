"""Webhooks delivered by real `kinfolk worker` processes, on the database queue and on Redis/RQ (no scheduler)."""

import os
import time
import uuid

import pytest

from tests.processes import kinfolk_install
from tests.webhooks.receiver import Receiver, verify

SETUP = """
from kinfolk.access.actors import SYSTEM
from kinfolk.people.services import check_create_organisation
from kinfolk.webhooks.services import check_create_subscription
sub, secret = check_create_subscription(
    data={"url": %(url)r, "event_types": ["organisation.created"]}, actor=SYSTEM
)
check_create_organisation(data={"name": "Acme"}, actor=SYSTEM)
print("SECRET", secret)
"""


def _queue_env(kind):
    if kind == "database":
        return {}
    url = os.environ.get("KINFOLK_TEST_REDIS_URL")
    if not url:
        pytest.skip("KINFOLK_TEST_REDIS_URL is not set (CI sets it)")
    return {"KINFOLK_REDIS_URL": url, "KINFOLK_JOB_QUEUE": f"kinfolk-test-{uuid.uuid4().hex}"}


@pytest.mark.slow_cli
@pytest.mark.parametrize("queue", ["database", "redis"])
def test_a_worker_delivers_and_a_later_worker_retries_without_a_scheduler(tmp_path, queue):
    # Given an installation with an org-wide webhook to a receiver that fails for now, and one event
    env = {**_queue_env(queue), "KINFOLK_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    receiver = Receiver(fail_share=1.0)
    try:
        with kinfolk_install(tmp_path) as install:
            assert install.run("init").returncode == 0
            made = install.run("shell", "-c", SETUP % {"url": receiver.url}, **env)
            assert made.returncode == 0, made.stderr
            secret = made.stdout.split("SECRET", 1)[1].split()[0]
            # When a worker runs the queue: the first attempt fails and a retry is due in ~5 s
            worked = install.run("worker", "--batch", "--quiet", **env)
            assert worked.returncode == 0, worked.stderr
            assert [r["status"] for r in receiver.requests] == [500]
            assert install.value("SELECT status FROM webhooks_webhookdelivery") == "pending"
            # When the receiver is fixed and a worker starts after the retry fell due
            receiver.fail_share = 0.0
            time.sleep(7)
            worked = install.run("worker", "--batch", "--quiet", **env)
            assert worked.returncode == 0, worked.stderr
            # Then its sweep queued the retry and the event was delivered, signed, with the same id
            assert [r["status"] for r in receiver.requests] == [500, 200]
            assert len({r["headers"]["webhook-id"] for r in receiver.requests}) == 1
            assert all(verify(secret, r) for r in receiver.requests)
            assert install.value("SELECT status FROM webhooks_webhookdelivery") == "delivered"
            assert install.value("SELECT count(*) FROM webhooks_webhookattempt") == 2
    finally:
        receiver.close()
        if env.get("KINFOLK_REDIS_URL"):
            import redis

            client = redis.Redis.from_url(env["KINFOLK_REDIS_URL"])
            keys = list(client.scan_iter(match=f"*{env['KINFOLK_JOB_QUEUE']}*"))
            if keys:
                client.delete(*keys)
