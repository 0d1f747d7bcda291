"""schemathesis against the live OpenAPI schema of a real HTTP server on loopback.

Checks: no server errors, responses that conform to the schema (status codes, content types,
headers, bodies), schema-violating requests rejected (negative data), and auth never ignored.
KINFOLK_SCHEMATHESIS_EXAMPLES and KINFOLK_SCHEMATHESIS_SEED tune the run (defaults: 10, 1).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kinfolk.access.actors import SYSTEM
from kinfolk.activities.services import check_create_activity
from kinfolk.people import services as ps
from tests.api.conftest import make_token
from tests.conftest import make_person, make_team, make_user

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "ignored_auth",
    ]
)


def _seed_data(admin):
    """A few records of every kind, so that generated ids find something to read, change and delete."""
    team = make_team("Fundraising")
    member = make_user("member", teams=[(team, "member")])
    org = ps.check_create_organisation(data={"name": "Acme", "domains": ["acme.example"]}, actor=admin)
    rtype = ps.check_create_relationship_type(
        data={"name": "sibling", "forward_label": "sibling of", "is_symmetric": True}, actor=SYSTEM
    )
    household = ps.check_create_household(data={"name": "Home"}, actor=admin)
    tag = ps.check_create_tag(data={"name": "vip"}, team=team, actor=admin)
    lst = ps.check_create_list(team=team, data={"name": "Gala"}, actor=admin)
    people = [
        make_person(
            actor=member,
            given_name=f"P{i}",
            emails=[{"email": f"p{i}@example.org"}],
            phones=[{"number": f"+44 20 7946 00{i:02d}"}],
            addresses=[{"locality": "Leeds", "country": "GB"}],
            social_profiles=[{"network": "github", "handle": f"p{i}"}],
            external_ids=[{"system": "shop", "value": str(i)}],
        )
        for i in range(4)
    ]
    for i, person in enumerate(people):
        ps.check_create_affiliation(person, org, data={"title": "Member"}, actor=admin)
        ps.check_tag(person, tag, actor=admin)
        ps.check_add_to_list(lst, person, actor=admin)
        check_create_activity(team=team, person=person, data={"subject": f"Call {i}"}, actor=admin)
    ps.check_create_relationship(people[0], people[1], rtype, actor=admin)
    ps.check_add_household_member(household, people[2], actor=admin)
    ps.check_tag(org, tag, actor=admin)


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_nothing(quick_live_server, settings, tmp_path):
    # Given a live server (http on loopback) with data of every kind and an organisation-wide token
    settings.KINFOLK_API_RATE_LIMIT = 10**9
    admin = make_user("root", admin=True)
    _seed_data(admin)
    secret = make_token(admin, None, "write", name="schemathesis")
    # When schemathesis tests every operation of the live schema
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{quick_live_server.url}/api/v1/schema/",
            "--header",
            f"Authorization: Bearer {secret}",
            # The suite runs with production settings; the proxy header says the connection is https.
            "--header",
            "X-Forwarded-Proto: https",
            "--checks",
            CHECKS,
            "--max-examples",
            os.environ.get("KINFOLK_SCHEMATHESIS_EXAMPLES", "10"),
            "--seed",
            os.environ.get("KINFOLK_SCHEMATHESIS_SEED", "1"),
            "--workers",
            "1",
            "--suppress-health-check",
            "all",
            "--warnings",
            "off",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "NO_COLOR": "1"},
    )
    report = Path(os.environ.get("KINFOLK_TEST_ARTIFACTS", "test-artifacts")) / "schemathesis.txt"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(run.stdout + run.stderr)
    # Then no check fails (the whole report is in test-artifacts/schemathesis.txt)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
    assert "Test cases:" in run.stdout and "generated" in run.stdout
