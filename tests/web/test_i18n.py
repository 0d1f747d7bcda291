"""Languages and time zones: each user sees Kinfolk in their own language and their own time zone."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import translation

from kinfolk.access import services as access_services
from kinfolk.access.actors import SYSTEM
from kinfolk.activities.services import check_create_activity
from kinfolk.core.models import ChangeRecord

pytestmark = pytest.mark.django_db


def prefer(user, **data):
    return access_services.check_update_preferences(user, data=data, actor=SYSTEM)


def test_a_german_user_sees_german_pages(world, as_user):
    # given Alice chose German
    alice = prefer(world["a"], language="de")
    client = as_user(alice)
    # when she opens her home page, the people list and a person
    home = client.get("/").content.decode()
    people = client.get("/people/").content.decode()
    person = client.get(f"/people/{world['ada'].pk}/").content.decode()
    # then they speak German, and the page says so
    assert '<html lang="de"' in home
    assert "Willkommen, alice" in home and "Meine offenen Aufgaben" in home
    assert ">Personen<" in home and ">Einstellungen<" in home and ">Abmelden<" in home
    assert "Person hinzufügen" in people and "Name, E-Mail oder Telefon" in people
    assert "Kontaktdaten und Identitäten" in person and "Zeitleiste" in person
    assert "Welcome" not in home and "Add a person" not in people


def test_each_user_gets_their_own_language_in_the_same_process(world, as_user):
    """The language is the user's, request by request: a French page does not leak into the next one."""
    french = as_user(prefer(world["a"], language="fr"))
    spanish = as_user(prefer(world["b"], language="es"))
    english = as_user(world["admin"])
    assert "Bienvenue, alice" in french.get("/").content.decode()
    assert "Le damos la bienvenida, bob" in spanish.get("/").content.decode()
    assert "Welcome, root" in english.get("/").content.decode()


def test_dates_show_in_the_users_time_zone(world, as_user):
    # given a call logged at 23:30 UTC on 14 March
    check_create_activity(
        team=world["team_a"],
        data={"kind": "call", "subject": "Late call", "occurred_at": datetime.datetime(2025, 3, 14, 23, 30, tzinfo=datetime.UTC)},
        actor=world["a"],
        person=world["ada"],
    )  # fmt: skip
    url = f"/people/{world['ada'].pk}/"
    # when a German user in Berlin opens the person, it was 00:30 on the 15th, written the German way
    berlin = as_user(prefer(world["a"], language="de", time_zone="Europe/Berlin")).get(url).content.decode()
    assert "15.03.2025 00:30" in berlin and "14.03.2025" not in berlin
    # and a German user who kept the organisation's zone (UTC) sees the 14th
    utc = as_user(prefer(world["admin"], language="de")).get(url).content.decode()
    assert "14.03.2025 23:30" in utc and "15.03.2025 00:30" not in utc
    # and the home page's list of recent activity (a template, not the timeline renderer) agrees
    assert "15.03.2025" in as_user(world["a"]).get("/").content.decode()


def test_a_user_chooses_language_and_time_zone_on_my_preferences(world, as_user):
    alice = world["a"]
    client = as_user(alice)
    page = client.get("/settings/profile/").content.decode()
    assert '<label for="pref-language">Language</label>' in page and 'value="Europe/Berlin"' not in page
    assert "<option>Europe/Berlin</option>" in page and 'lang="de">Deutsch</option>' in page
    # when she saves German and Berlin
    response = client.post(
        "/settings/profile/", {"language": "de", "time_zone": "Europe/Berlin"}, follow=True
    )
    # then they are hers, recorded, and the next page (with its toast) is German
    alice.refresh_from_db()
    assert (alice.language, alice.time_zone) == ("de", "Europe/Berlin")
    page = response.content.decode()
    assert "Ihre Einstellungen sind gespeichert." in page and "Meine Einstellungen" in page
    assert "<option selected>Europe/Berlin</option>" in page
    record = ChangeRecord.objects.filter(object_type__model="user", object_id=alice.pk).latest("id")
    assert record.changes["time_zone"] == {"before": "", "after": "Europe/Berlin"}
    # when she empties both, the browser's language and the organisation's zone apply again
    client.post("/settings/profile/", {"language": "", "time_zone": ""})
    alice.refresh_from_db()
    assert (alice.language, alice.time_zone) == ("", "")
    assert "Welcome" in client.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Bienvenue" in client.get("/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()


def test_a_bad_time_zone_or_language_gets_a_clear_field_error_and_changes_nothing(world, as_user):
    alice = prefer(world["a"], language="de", time_zone="Europe/Berlin")
    client = as_user(alice)
    response = client.post("/settings/profile/", {"language": "fr", "time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    page = response.content.decode()
    # the message names the value and what was expected, next to the field, in the user's language
    assert 'id="pref-time-zone-error"' in page
    assert "&#x27;Mars/Olympus_Mons&#x27;: Keine Zeitzone; erwartet wurde ein Name wie Europe/Berlin" in page
    assert 'aria-invalid="true"' in page
    alice.refresh_from_db()
    assert (alice.language, alice.time_zone) == ("de", "Europe/Berlin")  # nothing half-written
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        access_services.check_update_preferences(alice, data={"language": "xx", "theme": "dark"}, actor=alice)
    assert set(caught.value.message_dict) == {"language", "theme"}
    assert "expected one of en, de, fr, es" in caught.value.message_dict["language"][0]


def test_only_the_user_or_an_administrator_changes_their_preferences(world):
    with pytest.raises(PermissionDenied):
        access_services.check_update_preferences(world["a"], data={"language": "fr"}, actor=world["b"])
    access_services.check_update_preferences(world["a"], data={"language": "fr"}, actor=world["admin"])
    world["a"].refresh_from_db()
    assert world["a"].language == "fr"


def test_counts_are_grouped_the_readers_way():
    from kinfolk.web.templatetags.kinfolk_ui import number

    with translation.override("en"):
        assert number(1234567) == "1,234,567"
    with translation.override("de"):
        assert number(1234567) == "1.234.567"
        assert number(0.5) == "0,5"
    assert number("not a number") == "not a number"
