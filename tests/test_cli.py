"""The `kinfolk` command as a user runs it: a real process, a fresh KINFOLK_HOME, SQLite."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

KINFOLK = str(Path(sys.executable).with_name("kinfolk"))


def run(args, home, *, stdin=None, cwd=None):
    env = {**os.environ, "KINFOLK_HOME": str(home), "KINFOLK_DATABASE_URL": "", "KINFOLK_DEBUG": "0"}
    return subprocess.run(
        [KINFOLK, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120, cwd=cwd or home
    )


def test_help_lists_every_command_with_one_line(tmp_path):
    result = run(["--help"], tmp_path)
    assert result.returncode == 0
    for command in ("init", "run", "demo", "createuser", "shell", "manage"):
        assert f"    {command}" in result.stdout


def test_version_names_kinfolk(tmp_path):
    from kinfolk import __version__

    result = run(["--version"], tmp_path)
    assert result.stdout.strip() == f"kinfolk {__version__}"


@pytest.mark.slow_cli
def test_init_creates_database_key_and_one_administrator(tmp_path):
    first = run(["init"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Administrator created: username 'admin'" in first.stdout
    assert (tmp_path / "kinfolk.sqlite3").exists()
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"

    second = run(["init"], tmp_path)
    assert second.returncode == 0
    assert "Administrator created" not in second.stdout
    assert (tmp_path / "secret_key").read_text() == key


@pytest.mark.slow_cli
def test_createuser_rejects_a_weak_password_and_names_the_field(tmp_path):
    assert run(["init"], tmp_path).returncode == 0
    weak = run(["createuser", "ana", "--password-stdin"], tmp_path, stdin="123\n")
    assert weak.returncode == 2
    assert "error: password:" in weak.stderr
    ok = run(["createuser", "ana", "--password-stdin"], tmp_path, stdin="a long and unusual passphrase\n")
    assert ok.returncode == 0, ok.stderr
    assert "User 'ana' created." in ok.stdout


@pytest.mark.slow_cli
def test_writes_from_the_shell_are_audited_with_source_shell(tmp_path):
    assert run(["init"], tmp_path).returncode == 0
    code = (
        "from kinfolk.access.actors import SYSTEM\n"
        "from kinfolk.people.services import check_create_person\n"
        "from kinfolk.core.models import ChangeRecord\n"
        "p = check_create_person(data={'given_name': 'Ana'}, actor=SYSTEM)\n"
        "r = ChangeRecord.objects.get(object_id=p.pk, action='create', object_type__model='person')\n"
        "print('AUDIT', r.source, r.actor_label)\n"
    )
    result = run(["shell", "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "AUDIT shell system" in result.stdout


def test_a_bad_database_url_is_a_clear_error(tmp_path):
    env = {**os.environ, "KINFOLK_HOME": str(tmp_path), "KINFOLK_DATABASE_URL": "mysql://x@y/z"}
    result = subprocess.run([KINFOLK, "manage", "check"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "KINFOLK_DATABASE_URL='mysql://x@y/z'" in result.stderr
    assert "SQLite or PostgreSQL" in result.stderr


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid):
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.mark.slow_cli
def test_run_serves_with_a_worker_loads_the_demo_once_and_ctrl_c_stops_everything(tmp_path):
    import signal
    import time
    import urllib.request

    from tests.processes import kinfolk_install

    port = _free_port()
    with kinfolk_install(tmp_path) as install:
        # given a first run on an empty database
        server_cm = install.started(
            "run",
            "--port",
            str(port),
            "--demo-on-first-run",
            "--demo-people",
            "60",
            KINFOLK_HTTPS="0",
            PYTHONFAULTHANDLER="1",  # a thread dump on SIGABRT, should it not stop (below)
        )
        with server_cm as server:
            lines = []
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                line = server.stdout.readline()
                lines.append(line)
                if "Press Ctrl-C to stop" in line or not line:
                    break
            output = "".join(lines)
            # then it loaded the demo, printed the address and the login, and started a worker
            assert f"Kinfolk is running at http://127.0.0.1:{port}/" in output, output
            assert "Sign in as 'admin' with password '" in output
            assert "Demo loaded: teams: 4, people: 60" in output
            worker_pids = []
            for _ in range(100):
                page = None
                try:
                    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/accounts/login/", timeout=2)
                except OSError:
                    time.sleep(0.1)
                    continue
                worker_pids = _children(server.pid)
                break
            assert page is not None and page.status == 200
            assert len(worker_pids) == 1
            # and the worker searches the demo for its planted duplicates, so the review queue has work
            assert "Looking for duplicate people in the background" in output
            status = None
            for _ in range(600):
                status = install.value("SELECT status FROM core_job WHERE kind = 'dedupe'")
                if status in ("done", "failed"):
                    break
                time.sleep(0.1)
            assert status == "done"
            assert install.value("SELECT count(*) FROM identity_duplicatecandidate") > 0
            # when the user presses Ctrl-C (the terminal signals the whole process group)
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # where every thread of the server and its worker is: faulthandler dumps them on SIGABRT
                for pid in [server.pid, *_children(server.pid)]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGABRT)
                time.sleep(2)
                pytest.fail(
                    f"still running 30 s after Ctrl-C; its stderr:\n{install.stderr_of(server, 20000)}"
                )
            # then the server and its worker are gone
            time.sleep(0.5)
            assert (
                not Path(f"/proc/{worker_pids[0]}").exists()
                or "Z" in Path(f"/proc/{worker_pids[0]}/stat").read_text().split()[2]
            )
        # and a second run keeps the data: no second demo
        with install.started("run", "--port", str(port), "--demo-on-first-run", "--no-worker") as again:
            second = ""
            while "Press Ctrl-C to stop" not in second:
                line = again.stdout.readline()
                if not line:
                    break
                second += line
            os.killpg(again.pid, signal.SIGINT)
            again.wait(timeout=30)
        assert "Demo loaded" not in second and "Sign in as 'admin'" in second
        assert install.value("SELECT count(*) FROM people_person") >= 60
