"""The import wizard in the browser's shoes: upload, mapping with samples, preview, import, errors, undo."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from kinfolk.core.jobs import run_pending_jobs
from kinfolk.core.models import Job
from kinfolk.imports.models import ImportRun
from kinfolk.people.models import Person
from tests.conftest import make_person

pytestmark = pytest.mark.django_db

CSV = (
    "Vorname,Nachname,E-Mail,Geheim\nAda,Lovelace,ada@example.org,x\n,,broken,y\nOld,Name,old@example.org,z\n"
)


def test_upload_map_preview_import_and_undo(
    client, users, team_a, settings, tmp_path, django_capture_on_commit_callbacks
):
    # given a member of team A and a person already in Kinfolk
    settings.MEDIA_ROOT = tmp_path
    make_person(given_name="Old", family_name="Person", emails=[{"email": "old@example.org"}])
    user = users["a_member"]
    client.force_login(user)
    # when they upload a file
    response = client.post(
        "/imports/",
        {"file": SimpleUploadedFile("people.csv", CSV.encode()), "team": team_a.pk, "on_match": "skip"},
        secure=True,
    )
    run = ImportRun.objects.get()
    assert response.status_code == 302 and response.url == f"/imports/{run.pk}/mapping/"
    # then the mapping page suggests fields and shows sample values
    page = client.get(response.url, secure=True).content.decode()
    assert '<option value="given_name" selected>given_name</option>' in page
    assert "<div>Lovelace</div>" in page
    # when they confirm the mapping (ignoring the secret column), the preview is queued as a job
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            response.url,
            {"map-0": "given_name", "map-1": "family_name", "map-2": "email", "map-3": "ignore"},
            secure=True,
        )
    assert response.url == f"/imports/{run.pk}/"
    assert client.get(response.url, secure=True).context["running"] is True
    # and a worker runs it
    run_pending_jobs()
    preview = client.get(response.url, secure=True).content.decode()
    assert Person.objects.count() == 1
    assert "Import now" in preview and "Not a valid email address" in preview
    run.refresh_from_db()
    assert run.summary() == {"created": 1, "updated": 0, "skipped": 1, "rejected": 1, "flagged": 0}
    # when they import for real (a worker runs the job)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/imports/{run.pk}/start/", secure=True)
    run_pending_jobs()
    real = ImportRun.objects.get(dry_run=False)
    assert response.url == f"/imports/{real.pk}/"
    assert Job.objects.get(params__import_id=real.pk).result == {
        "import_id": real.pk,
        "dry_run": False,
        **run.summary(),
    }
    assert real.summary() == run.summary()
    assert Person.objects.filter(given_name="Ada", family_name="Lovelace").count() == 1
    # then the rejected rows download with reasons, and the import can be undone
    report = client.get(f"/imports/{real.pk}/errors.csv", secure=True).content.decode()
    assert report.splitlines()[0] == "Vorname,Nachname,E-Mail,Geheim,reason"
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/imports/{real.pk}/undo/", secure=True).status_code == 302
    assert (
        "Being undone: 0 people removed so far."
        in client.get(f"/imports/{real.pk}/", secure=True).content.decode()
    )
    run_pending_jobs()
    assert not Person.objects.filter(given_name="Ada").exists()
    assert ImportRun.objects.get(pk=real.pk).status == ImportRun.Status.UNDONE
    page = client.get(f"/imports/{real.pk}/", secure=True).content.decode()
    assert f"Undone: {real.created} people removed, 0 fields restored, 0 left as they were." in page


def test_another_users_import_is_not_found(client, users, tmp_path):
    from .helpers import do_import, write_csv

    run = do_import(write_csv(tmp_path / "p.csv", ["First Name"], [["A"]]), actor=users["a_member"])
    client.force_login(users["b_member"])
    assert client.get(f"/imports/{run.pk}/", secure=True).status_code == 404
    assert client.get(f"/imports/{run.pk}/errors.csv", secure=True).status_code == 404
    assert client.post(f"/imports/{run.pk}/undo/", secure=True).status_code == 404


def test_the_wizard_needs_a_signed_in_user(client):
    assert client.get("/imports/", secure=True).status_code == 302
