"""`kinfolk import` and `kinfolk export` as a user runs them: real processes, SQLite, a SIGKILL mid-import."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import write_csv

KINFOLK = str(Path(sys.executable).with_name("kinfolk"))
pytestmark = pytest.mark.slow_cli


def _env(home):
    return {**os.environ, "KINFOLK_HOME": str(home), "KINFOLK_DATABASE_URL": "", "KINFOLK_DEBUG": "0"}


def run(args, home):
    return subprocess.run(
        [KINFOLK, *args], env=_env(home), capture_output=True, text=True, timeout=300, cwd=home
    )


def _people_file(path, n):
    rows = [
        [f"Given{i}", f"Family{i}", f"p{i % (n - n // 10)}@example.org", f"+4915112{i:06d}", f"Org {i % 7}"]
        for i in range(n)
    ]
    return write_csv(path, ["Vorname", "Nachname", "E-Mail", "Handy", "Firma"], rows)


def test_import_prints_the_json_summary_last_and_writes_the_error_report(tmp_path):
    path = write_csv(
        tmp_path / "p.csv",
        ["First Name", "Email"],
        [["Ada", "ada@example.org"], ["", "broken"], ["Ada", "ADA@example.org"]],
    )
    preview = run(["import", str(path), "--dry-run"], tmp_path)
    assert preview.returncode == 0, preview.stderr
    assert json.loads(preview.stdout.splitlines()[-1]) == {
        "created": 1,
        "updated": 1,
        "skipped": 0,
        "rejected": 1,
        "flagged": 0,
    }
    done = run(["import", str(path), "--errors", str(tmp_path / "errors.csv")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {
        "created": 1,
        "updated": 1,
        "skipped": 0,
        "rejected": 1,
        "flagged": 0,
    }
    assert "First Name -> given_name, Email -> email" in done.stderr
    report = (tmp_path / "errors.csv").read_text().splitlines()
    assert report[0] == "First Name,Email,reason"
    assert report[1].startswith(",broken,\"Email: 'broken': Not a valid email address")
    again = run(["import", str(path), "--on-match", "skip"], tmp_path)
    assert json.loads(again.stdout.splitlines()[-1])["skipped"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "error: No such file"),
        (["p.csv", "--map", "Nope=email"], "error: Nope: No column 'Nope' in the file"),
        (["p.csv", "--map", "Email=shoe_size"], "error: Email: Unknown field 'shoe_size'"),
        (["p.csv", "--mapping", "nothing.json"], "error: mapping: No mapping profile or JSON file"),
        (["p.csv", "--map", "broken"], "error: map: 'broken': expected COLUMN=FIELD."),
    ],
)
def test_import_exits_non_zero_with_a_clear_message(tmp_path, args, message):
    write_csv(tmp_path / "p.csv", ["First Name", "Email"], [["Ada", "ada@example.org"]])
    result = run(["import", *args], tmp_path)
    assert result.returncode == 2
    assert message in result.stderr


def test_a_mapping_file_and_map_options_choose_the_columns(tmp_path):
    write_csv(tmp_path / "p.csv", ["A", "B", "C"], [["Ada", "Lovelace", "ada@example.org"]])
    (tmp_path / "m.json").write_text(json.dumps({"A": "given_name", "B": "family_name"}))
    result = run(["import", "p.csv", "--mapping", "m.json", "--map", "C=email"], tmp_path)
    assert result.returncode == 0, result.stderr
    exported = run(["export", "--format", "jsonl"], tmp_path)
    person = json.loads(exported.stdout.splitlines()[0])
    assert (person["given_name"], person["family_name"], person["email"]) == (
        "Ada",
        "Lovelace",
        "ada@example.org",
    )


def _checkpoint(home):
    try:
        with sqlite3.connect(f"file:{home / 'kinfolk.sqlite3'}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute(
                "SELECT checkpoint_row FROM imports_importrun ORDER BY id DESC LIMIT 1"
            ).fetchone()
            return row[0] if row else 0
    except sqlite3.OperationalError:
        return 0


def _export(home):
    result = run(["export", "--format", "jsonl"], home)
    assert result.returncode == 0, result.stderr
    return sorted(result.stdout.splitlines())


@pytest.mark.parametrize("kill_after_row", [1, 1200])
def test_an_import_killed_with_sigkill_resumes_without_doubling_or_losing_anyone(tmp_path, kill_after_row):
    # given the result of an uninterrupted import of 3,000 rows (10% repeated people)
    clean_home, killed_home = tmp_path / "clean", tmp_path / "killed"
    clean_home.mkdir()
    killed_home.mkdir()
    path = _people_file(tmp_path / "people.csv", 3000)
    clean = run(["import", str(path), "--batch-size", "100", "--quiet"], clean_home)
    assert clean.returncode == 0, clean.stderr
    # when the same import is SIGKILLed once a checkpoint passes the row, then resumed
    assert run(["init"], killed_home).returncode == 0
    proc = subprocess.Popen(
        [KINFOLK, "import", str(path), "--batch-size", "100", "--quiet"],
        env=_env(killed_home),
        cwd=killed_home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while _checkpoint(killed_home) < kill_after_row and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    assert 0 < _checkpoint(killed_home) < 3001
    resumed = run(["import", "--resume", "1", "--batch-size", "100", "--quiet"], killed_home)
    assert resumed.returncode == 0, resumed.stderr
    # then the summary and the people are exactly those of the uninterrupted run
    assert resumed.stdout.splitlines()[-1] == clean.stdout.splitlines()[-1]
    assert json.loads(clean.stdout.splitlines()[-1]) == {
        "created": 2700,
        "updated": 300,
        "skipped": 0,
        "rejected": 0,
        "flagged": 0,
    }
    assert _export(killed_home) == _export(clean_home)


def test_export_writes_a_file_by_its_extension(tmp_path):
    write_csv(tmp_path / "p.csv", ["First Name", "Phone"], [["Ada", "+44 20 7946 0958"]])
    assert run(["import", "p.csv"], tmp_path).returncode == 0
    result = run(["export", "-o", "out.xlsx"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Exported 1 people to out.xlsx" in result.stderr
    assert (tmp_path / "out.xlsx").read_bytes()[:2] == b"PK"
    bad = run(["export", "--as", "nobody"], tmp_path)
    assert (bad.returncode, bad.stderr.strip()) == (2, "error: as: No user 'nobody'.")
