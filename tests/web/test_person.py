"""The person and organisation pages: inline edits with messages by the field, timeline, relationships, tags."""

import pytest

from kinfolk.access.actors import SYSTEM
from kinfolk.activities.models import Activity
from kinfolk.activities.services import check_create_activity
from kinfolk.people import services as ps
from kinfolk.people.models import EmailAddress, PersonTag, Relationship
from kinfolk.web.models import Follow
from tests.conftest import make_person

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def test_edit_a_person_inline_and_see_bad_values_next_to_the_field(world, as_user):
    client = as_user(world["a"])
    ada = world["ada"]
    form = client.get(f"/people/{ada.pk}/edit/", **HTMX).content.decode()
    assert form.startswith('<section class="card" id="person-facts"') and 'name="birth_date"' in form
    response = client.post(
        f"/people/{ada.pk}/edit/", {"given_name": "Augusta Ada", "birth_date": "31/31/1815"}, **HTMX
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert (
        'id="edit-birth_date" name="birth_date"' in html
        and 'aria-invalid="true" aria-describedby="edit-birth_date-error"' in html
    )
    assert '<p class="field-error" id="edit-birth_date-error">&#x27;31/31/1815&#x27;: ' in html
    ada.refresh_from_db()
    assert ada.given_name == "Ada"  # nothing saved
    response = client.post(
        f"/people/{ada.pk}/edit/", {"given_name": "Augusta Ada", "birth_date": "1815-12-10"}, **HTMX
    )
    ada.refresh_from_db()
    assert (ada.given_name, str(ada.birth_date)) == ("Augusta Ada", "1815-12-10")
    assert "Saved." in response.content.decode()  # the toast, out of band


def test_without_javascript_a_bad_edit_shows_the_whole_page_with_the_message(world, as_user):
    response = as_user(world["a"]).post(f"/people/{world['ada'].pk}/edit/", {"country": "Narnia"})
    assert response.status_code == 400
    assert "&#x27;Narnia&#x27;: Not a known country" in response.content.decode()
    response = as_user(world["a"]).post(f"/people/{world['ada'].pk}/edit/", {"pronouns": "she/her"})
    assert response.status_code == 302 and response.url == f"/people/{world['ada'].pk}/"


def test_edit_an_email_with_a_bad_value(world, as_user):
    client = as_user(world["a"])
    email = world["ada"].emails.get()
    url = f"/people/{world['ada'].pk}/emails/{email.pk}/edit/"
    response = client.post(url, {"email": "ada@@example"}, **HTMX)
    html = response.content.decode()
    assert 'id="email-edit-error">&#x27;ada@@example&#x27;: ' in html
    assert EmailAddress.objects.get(pk=email.pk).email == "ada@example.org"
    client.post(url, {"email": "Ada@Analytical.example"}, **HTMX)
    email.refresh_from_db()
    assert (email.email, email.normalized) == ("Ada@analytical.example", "ada@analytical.example")


def test_add_and_remove_details(world, as_user):
    client = as_user(world["a"])
    pk = world["ada"].pk
    html = client.post(f"/people/{pk}/phones/add/", {"number": "12"}, **HTMX).content.decode()
    assert 'id="add-phone-error">&#x27;12&#x27;: ' in html
    client.post(f"/people/{pk}/phones/add/", {"number": "+44 20 7946 0018"}, **HTMX)
    phone = world["ada"].phonenumbers.get()
    assert phone.number == "+442079460018"
    client.post(f"/people/{pk}/phones/{phone.pk}/remove/", **HTMX)
    assert not world["ada"].phonenumbers.exists()
    assert client.post(f"/people/{pk}/shoes/add/", {"x": "1"}).status_code == 404


def test_add_a_note_log_a_call_and_create_a_task(world, as_user):
    client = as_user(world["a"])
    pk = world["ada"].pk
    html = client.post(
        f"/people/{pk}/activities/",
        {"kind": "note", "team": world["team_a"].pk, "subject": "Met at the gala",
         "body": '<p>Loves <b>engines</b></p><script>alert(1)</script><img src=x onerror="alert(2)">'},
        **HTMX,
    ).content.decode()  # fmt: skip
    assert html.startswith('<section class="card" id="person-timeline"')
    assert "<p>Loves <b>engines</b></p>" in html
    assert "<script>" not in html and "<img" not in html and 'onerror="' not in html
    client.post(
        f"/people/{pk}/activities/", {"kind": "call", "team": world["team_a"].pk, "subject": "Called"}
    )
    client.post(
        f"/people/{pk}/activities/",
        {"kind": "task", "team": world["team_a"].pk, "subject": "Send the report", "due_at": "2030-01-31"},
    )
    task = Activity.objects.get(kind="task")
    assert (task.assignee, task.due_at.date().isoformat()) == (world["a"], "2030-01-31")
    assert sorted(Activity.objects.values_list("kind", flat=True)) == ["call", "note", "task"]
    home = client.get("/").content.decode()
    assert "Send the report" in home
    client.post(f"/activities/{task.pk}/complete/", {"next": "/"})
    task.refresh_from_db()
    assert task.completed_at is not None
    # a team alice does not write for is refused, nothing written
    html = client.post(
        f"/people/{pk}/activities/", {"kind": "note", "team": world["team_b"].pk, "subject": "x"}, **HTMX
    ).content.decode()
    assert "Choose one of your teams." in html
    assert Activity.objects.count() == 3


def test_timeline_filters_by_kind_and_team(world, as_user):
    for kind, subject in (("note", "A note"), ("call", "A call")):
        check_create_activity(
            team=world["team_a"], person=world["ada"], data={"kind": kind, "subject": subject}, actor=SYSTEM
        )
    client = as_user(world["a"])
    html = client.get(
        f"/people/{world['ada'].pk}/?show=call", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="person-timeline"
    ).content.decode()
    assert html.startswith('<section class="card" id="person-timeline"')
    assert "A call" in html and "A note" not in html
    html = client.get(
        f"/people/{world['ada'].pk}/?show=note&show=call&team={world['team_b'].pk}",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="person-timeline",
    ).content.decode()
    assert "A call" not in html and "A note" not in html


def test_relationship_is_seen_from_both_sides(world, as_user):
    client = as_user(world["a"])
    ada, charles = world["ada"], world["charles"]
    client.post(f"/people/{ada.pk}/relationships/", {"type": f"{world['rtype'].pk}:r", "other": charles.pk})
    rel = Relationship.objects.get()
    assert (rel.from_person, rel.to_person) == (charles, ada)
    ada_page = client.get(f"/people/{ada.pk}/").content.decode()
    charles_page = client.get(f"/people/{charles.pk}/").content.decode()
    assert f'mentee of <a href="/people/{charles.pk}/">Charles Babbage</a>' in ada_page
    assert f'mentor of <a href="/people/{ada.pk}/">Ada Lovelace</a>' in charles_page
    assert (
        f'<a href="/people/{charles.pk}/" aria-label="Charles Babbage, mentee of">' in ada_page
    )  # the graph
    html = client.post(f"/people/{ada.pk}/relationships/", {"type": "", "other": ""}, **HTMX).content.decode()
    assert "Find and choose the other person." in html and "Choose how they are related." in html
    # someone else's restricted person cannot be tied to
    client.post(
        f"/people/{ada.pk}/relationships/", {"type": f"{world['rtype'].pk}:f", "other": world["secret"].pk}
    )
    assert Relationship.objects.count() == 1


def test_tags_lists_and_follow(world, as_user):
    client = as_user(world["a"])
    pk = world["ada"].pk
    client.post(f"/people/{pk}/tags/", {"tag": world["tag"].pk}, **HTMX)
    tagging = PersonTag.objects.get()
    assert tagging.team == world["team_a"]
    client.post(f"/people/{pk}/lists/", {"list": world["list"].pk}, **HTMX)
    assert world["list"].memberships.count() == 1
    client.post(f"/people/{pk}/tags/{tagging.pk}/remove/", **HTMX)
    assert PersonTag.objects.count() == 0
    client.post(f"/people/{pk}/follow/")
    assert Follow.objects.filter(user=world["a"], person=world["ada"]).count() == 1
    assert "Ada Lovelace" in client.get("/").content.decode()
    client.post(f"/people/{pk}/follow/", {"follow": "0"})
    assert not Follow.objects.exists()


def test_person_page_query_count_does_not_grow_with_the_timeline(world, as_user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(world["a"])
    url = f"/people/{world['ada'].pk}/"
    client.get(url)  # process-wide caches (content types) warm up once, whatever the data
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for i in range(30):
        check_create_activity(
            team=world["team_a"], person=world["ada"], data={"subject": f"Note {i}"}, actor=world["a"]
        )
    other = make_person(given_name="Mary", family_name="Somerville")
    ps.check_create_relationship(world["ada"], other, world["rtype"], actor=SYSTEM)
    ps.check_create_relationship(world["charles"], world["ada"], world["rtype"], actor=SYSTEM)
    # (not a new phone or email: possible duplicates look up one more kind of matching key for each)
    ps.check_tag(world["ada"], world["tag"], actor=SYSTEM)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    import collections

    shape = lambda ctx: collections.Counter(q["sql"][:60] for q in ctx.captured_queries)  # noqa: E731
    assert len(many) == len(few), shape(many) - shape(few)
    assert len(many) <= 23, shape(many)  # 25 before the households, teams and follow were folded in


def test_new_person_and_new_organisation(world, as_user):
    client = as_user(world["a"])
    response = client.post(
        "/people/new/", {"given_name": "Mary", "family_name": "Somerville", "email": "bad"}
    )
    assert response.status_code == 400
    assert 'id="new-email-error">&#x27;bad&#x27;: ' in response.content.decode()
    response = client.post(
        "/people/new/", {"given_name": "Mary", "family_name": "Somerville", "email": "mary@example.org"}
    )
    assert response.status_code == 302
    assert EmailAddress.objects.get(email="mary@example.org").person.display_name == "Mary Somerville"
    response = client.post("/organisations/new/", {"name": "", "kind": "club"})
    assert response.status_code == 400 and "This field is required." in response.content.decode()
    response = client.post("/organisations/new/", {"name": "Royal Society", "kind": "club"})
    assert response.status_code == 302


def test_organisation_page_shows_people_children_and_timeline(world, as_user):
    child = ps.check_create_organisation(
        data={"name": "Engines North", "parent": world["org"].pk}, actor=SYSTEM
    )
    past = make_person(given_name="Old", family_name="Hand")
    ps.check_create_affiliation(
        past,
        world["org"],
        data={"title": "Clerk", "start_date": "2001-01-01", "end_date": "2002-01-01"},
        actor=SYSTEM,
    )
    client = as_user(world["a"])
    client.post(
        f"/organisations/{world['org'].pk}/activities/",
        {"kind": "meeting", "team": world["team_a"].pk, "subject": "Board meeting"},
    )
    html = client.get(f"/organisations/{world['org'].pk}/").content.decode()
    assert (
        "Ada Lovelace" in html and "Old Hand" in html and "Engines North" in html and "Board meeting" in html
    )
    assert html.index("Ada Lovelace") < html.index("In the past") < html.index("Old Hand")
    html = client.post(
        f"/organisations/{world['org'].pk}/edit/",
        {"name": "Analytical Engines", "website": "not a url"},
        **HTMX,
    ).content.decode()
    assert 'id="org-website-error">' in html
    client.post(
        f"/organisations/{world['org'].pk}/edit/",
        {"name": "Analytical Engines", "kind": "company", "website": "", "description": ""},
    )
    world["org"].refresh_from_db()
    assert world["org"].name == "Analytical Engines"
    assert child.parent_id == world["org"].pk


def test_possible_duplicates_load_after_the_page(world, as_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # matching keys are kept by after-commit events
        twin = make_person(given_name="Ada", family_name="Lovelace", emails=[{"email": "ada@example.org"}])
    client = as_user(world["a"])
    page = client.get(f"/people/{world['ada'].pk}/").content.decode()
    assert f'hx-get="/people/{world["ada"].pk}/duplicates/" hx-trigger="load"' in page
    panel = client.get(f"/people/{world['ada'].pk}/duplicates/", **HTMX).content.decode()
    assert panel.startswith('<section class="card" aria-labelledby="duplicates-h" id="person-duplicates">')
    assert f'<a href="/people/{twin.pk}/">Ada Lovelace</a>' in panel
    assert "hx-trigger" not in panel
    # without JavaScript the link opens the same panel on a page of its own
    assert (
        f'<a href="/people/{twin.pk}/">Ada Lovelace</a>'
        in client.get(f"/people/{world['ada'].pk}/duplicates/").content.decode()
    )
    # a restricted look-alike is not suggested to those who may not see them
    assert as_user(world["a"]).get(f"/people/{world['secret'].pk}/duplicates/").status_code == 404


def test_add_end_and_remove_an_organisation_on_the_person_page(world, as_user):
    # given a member of Fundraising on Charles's page, and an organisation they can find
    from kinfolk.search.index import reindex_all

    reindex_all()  # the world was made inside the test's transaction, whose commit hooks never run
    client = as_user(world["a"])
    charles, org = world["charles"], world["org"]
    picked = client.get(
        "/search/",
        {"q": "Analytical", "kind": "organisation", "template": "pick", "pick": "organisation"},
        **HTMX,
    ).content.decode()
    assert f'name="organisation" value="{org.pk}"' in picked
    # when they add it with a bad date, then the message is next to the field and nothing is saved
    url = f"/people/{charles.pk}/affiliations/"
    html = client.post(
        url, {"organisation": org.pk, "title": "Inventor", "start_date": "1822-13-01"}, **HTMX
    ).content.decode()
    assert (
        'aria-describedby="aff-start-error"' in html and 'id="aff-start-error">&#x27;1822-13-01&#x27;' in html
    )
    assert not charles.affiliations.exists()
    # when they choose no organisation, then they are told to choose one
    html = client.post(url, {"title": "Inventor"}, **HTMX).content.decode()
    assert 'id="aff-organisation-error">Find and choose the organisation.' in html
    # when the values are good, then the affiliation is saved, current and primary
    html = client.post(
        url,
        {"organisation": org.pk, "title": "Inventor", "start_date": "1822-06-14", "is_primary": "on"},
        **HTMX,
    ).content.decode()
    affiliation = charles.affiliations.get()
    assert (affiliation.title, str(affiliation.start_date), affiliation.is_primary) == (
        "Inventor",
        "1822-06-14",
        True,
    )
    assert affiliation.end_date is None and "Analytical Engines Ltd</a> — Inventor" in html
    # when it is marked as ended, then it is past but kept
    client.post(
        f"/people/{charles.pk}/affiliations/{affiliation.pk}/end/", {"end_date": "1871-10-18"}, **HTMX
    )
    affiliation.refresh_from_db()
    assert str(affiliation.end_date) == "1871-10-18" and not affiliation.is_current
    # when it is removed, then it is gone (and the change is recorded)
    response = client.post(f"/people/{charles.pk}/affiliations/{affiliation.pk}/remove/")
    assert response.status_code == 302 and not charles.affiliations.exists()


def test_another_team_cannot_touch_a_restricted_persons_organisations(world, as_user):
    secret, org = world["secret"], world["org"]
    response = as_user(world["a"]).post(f"/people/{secret.pk}/affiliations/", {"organisation": org.pk})
    assert response.status_code == 404 and not secret.affiliations.exists()


def test_the_timeline_pages_through_older_items_without_losing_or_repeating_one(world, as_user):
    # given Charles with 230 notes, 60 of them at the very same moment (ties must not be lost)
    import re

    from django.utils import timezone

    charles = world["charles"]
    same_moment = timezone.now().replace(microsecond=0) - timezone.timedelta(days=3)
    for i in range(230):
        data = {"subject": f"Note {i:03d}"}
        if i < 60:
            data["occurred_at"] = same_moment
        check_create_activity(team=world["team_a"], person=charles, data=data, actor=SYSTEM)
    client = as_user(world["a"])
    note = re.compile(r"Note (\d{3})")

    def subjects(html):  # the notes on the timeline (the change history names them too)
        return note.findall(html.split('id="timeline-items"', 1)[1].split("</ol>", 1)[0])

    # when the page is opened, then it shows the newest 200 and a link to the older ones
    html = client.get(f"/people/{charles.pk}/", {"show": "note"}).content.decode()
    first = subjects(html)
    assert len(first) == 200
    more = re.search(r'<div id="timeline-more"><a class="button small" href="([^"]+)"', html).group(1)
    # when "Show older" is followed (htmx), then only the next items come, with no further link
    page = client.get(more.replace("&amp;", "&"), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="timeline-items")
    rest = note.findall(page.content.decode())
    assert '<div id="timeline-more" hx-swap-oob="true"></div>' in page.content.decode()
    assert sorted(first + rest) == [f"{i:03d}" for i in range(230)]
    # and without JavaScript the same link shows the older page in full
    html = client.get(more.replace("&amp;", "&")).content.decode()
    assert subjects(html) == rest and "Back to the newest" in html
    # a cursor that is not one is ignored: the newest page again
    html = client.get(f"/people/{charles.pk}/", {"show": "note", "before": "yesterday~1~2"}).content.decode()
    assert subjects(html) == first


def test_make_a_household_add_someone_and_take_them_out(world, as_user):
    from kinfolk.people.models import Household, HouseholdMember

    client = as_user(world["a"])
    ada, charles = world["ada"], world["charles"]
    url = f"/people/{ada.pk}/households/"
    # when no one is chosen, then the message says so and nothing is made
    html = client.post(url, {"role": "partner"}, **HTMX).content.decode()
    assert 'id="hh-other-error">Find and choose the person who lives with them.' in html
    assert not Household.objects.exists()
    # when Charles is added, then Ada's household is made with her at its head and him in it
    html = client.post(url, {"other": charles.pk, "role": "partner"}, **HTMX).content.decode()
    household = Household.objects.get()
    assert household.name == "Lovelace household" and household.head_id == ada.pk
    assert {(m.person_id, m.role) for m in household.members.all()} == {(ada.pk, ""), (charles.pk, "partner")}
    assert "Charles Babbage</a>" in html and "partner" in html
    # and his page shows the household too
    assert "Lovelace household" in client.get(f"/people/{charles.pk}/").content.decode()
    # when he is added again, then the message names him and nothing is doubled
    html = client.post(url, {"other": charles.pk}, **HTMX).content.decode()
    assert "Charles Babbage is already in Lovelace household." in html
    assert household.members.count() == 2
    # when he is taken out, then only Ada remains
    member = HouseholdMember.objects.get(person=charles)
    client.post(f"/people/{ada.pk}/households/{member.pk}/remove/", **HTMX)
    assert list(household.members.values_list("person_id", flat=True)) == [ada.pk]
    # someone outside the person's households cannot be removed through their page
    other = HouseholdMember.objects.create(
        household=Household.objects.create(name="Elsewhere"), person=charles
    )
    assert client.post(f"/people/{ada.pk}/households/{other.pk}/remove/").status_code == 404


def test_timeline_and_history_lines_escape_what_people_typed(world, as_user):
    # given a person whose pronouns and a task's subject hold markup, and an open task with a due date
    ada = world["ada"]
    ps.check_update_person(ada, changes={"pronouns": "<b>she</b>"}, actor=world["a"])
    check_create_activity(
        team=world["team_a"], person=ada, data={"kind": "task", "subject": "Ask <i>twice</i> & wait",
        "due_at": "2030-01-31T09:00:00+00:00"}, actor=world["a"],
    )  # fmt: skip
    task = Activity.objects.get(kind="task")
    # when her page is shown
    html = as_user(world["a"]).get(f"/people/{ada.pk}/").content.decode()
    timeline = html.split('id="timeline-items"', 1)[1].split("</ol>", 1)[0]
    history = html.split('id="history-h"', 1)[1].split("</ul>", 1)[0]
    # then the task's line has its subject escaped, its due date, and the form that marks it done
    assert "<strong>Ask &lt;i&gt;twice&lt;/i&gt; &amp; wait</strong>" in timeline
    assert '<span class="badge warn">task</span>' in timeline and "due 01/31/2030" in timeline
    assert f'action="/activities/{task.pk}/complete/"' in timeline
    assert f'<input type="hidden" name="next" value="/people/{ada.pk}/">' in timeline
    # and the change to her record is on the timeline (fields by name) and in the history (before → after)
    assert "Updated person “Ada Lovelace”: <code>pronouns</code>" in timeline
    assert "<br><code>pronouns</code>:  → &lt;b&gt;she&lt;/b&gt;</span>" in history  # was blank
    assert "<b>she</b>" not in html and "<i>twice</i>" not in html
