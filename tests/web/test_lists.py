"""People and organisation lists: keyset pages, filters, sort, columns, saved views and bulk actions."""

import csv
import io

import pytest

from kinfolk.access.actors import SYSTEM
from kinfolk.people import services as ps
from kinfolk.people.bulk import bulk_create_people
from kinfolk.people.models import ListMembership, Person, PersonTag
from kinfolk.web.lists import LISTS, decode_cursor
from kinfolk.web.models import SavedView
from tests.conftest import make_person

pytestmark = pytest.mark.django_db


def names_on(page_html):
    import re

    return re.findall(r'<a href="/people/\d+/">([^<]+)</a>', page_html)


def walk(client, url):
    """Every name on every page, following 'Next' links; and the number of pages."""
    import html
    import re

    seen, pages = [], 0
    while url:
        page = client.get(url).content.decode()
        pages += 1
        seen += names_on(page)
        match = re.search(r'href="(\?[^"]*)" rel="next"', page)
        url = "/people/" + html.unescape(match.group(1)) if match else None
    return seen, pages


def many_people(n, prefix="Person"):
    rows = [({"given_name": f"{prefix}{i:03d}", "family_name": "Example"}, {}) for i in range(n)]
    return bulk_create_people(rows, actor=SYSTEM)


@pytest.mark.parametrize("sort", ["name", "-name", "created", "-updated"])
def test_keyset_pages_show_everyone_once_in_order(world, as_user, sort):
    # Given 120 more people (123 visible to alice, the restricted one not)
    many_people(120)
    client = as_user(world["a"])
    # When alice walks the list page by page
    seen, pages = walk(client, f"/people/?sort={sort}")
    # Then every visible person appears exactly once, in the chosen order, on 3 pages of 50
    expected = list(
        Person.objects.visible_to(world["a"])
        .order_by(
            *(
                (f"-{f}" if sort.startswith("-") else f)
                for f in (LISTS["people"].sorts[sort.lstrip("-")], "pk")
            )
        )
        .values_list("display_name", flat=True)
    )
    assert pages == 3
    assert seen == expected
    assert "Secret Donor" not in seen


def test_previous_page_returns_the_same_rows(world, as_user):
    import html
    import re

    many_people(120)
    client = as_user(world["a"])
    first = client.get("/people/").content.decode()
    second_url = html.unescape(re.search(r'href="(\?[^"]*)" rel="next"', first).group(1))
    second = client.get("/people/" + second_url).content.decode()
    prev_url = html.unescape(re.search(r'href="(\?[^"]*)" rel="prev"', second).group(1))
    assert names_on(client.get("/people/" + prev_url).content.decode()) == names_on(first)


def test_a_bad_cursor_starts_at_the_first_page(world, as_user):
    assert decode_cursor("not-a-cursor") is None
    response = as_user(world["a"]).get("/people/?cursor=%%%")
    assert response.status_code == 200
    assert names_on(response.content.decode())[0] == "Ada Lovelace"


def test_filters_combine_and_bad_values_are_named(world, as_user):
    ps.check_tag(world["ada"], world["tag"], actor=SYSTEM)
    ps.check_add_to_list(world["list"], world["charles"], actor=SYSTEM)
    client = as_user(world["a"])
    html = lambda url: client.get(url).content.decode()  # noqa: E731
    assert names_on(html(f"/people/?tag={world['tag'].pk}")) == ["Ada Lovelace"]
    assert names_on(html(f"/people/?list={world['list'].pk}")) == ["Charles Babbage"]
    assert names_on(html(f"/people/?organisation={world['org'].pk}")) == ["Ada Lovelace"]
    assert names_on(html("/people/?email=ada@example.org")) == ["Ada Lovelace"]
    assert names_on(html("/people/?country=United Kingdom")) == ["Ada Lovelace"]
    assert names_on(html(f"/people/?team={world['team_a'].pk}")) == ["Ada Lovelace", "Charles Babbage"]
    assert names_on(html("/people/?created_after=2999-01-01")) == []
    page = html("/people/?created_after=yesterday&country=Atlantis&sort=shoe")
    assert "&#x27;yesterday&#x27;: expected a date like 2025-03-31." in page
    assert "&#x27;Atlantis&#x27;: Not a known country; expected an ISO 3166 code like DE" in page
    assert "&#x27;shoe&#x27;: expected one of name, created, updated." in page


def test_name_filter_uses_the_search_index(world, as_user, django_capture_on_commit_callbacks):
    from kinfolk.search.index import reindex_all

    reindex_all()
    client = as_user(world["a"])
    assert names_on(client.get("/people/?q=lovel").content.decode()) == ["Ada Lovelace"]
    assert names_on(client.get("/people/?q=ch").content.decode()) == ["Charles Babbage"]
    assert names_on(client.get("/people/?q=donor").content.decode()) == []  # restricted to team B


def test_choose_columns(world, as_user):
    page = as_user(world["a"]).get("/people/?columns=email&columns=country").content.decode()
    assert ">Email</th>" in page and ">Country</th>" in page and ">Tags</th>" not in page
    assert "ada@example.org" in page and "United Kingdom" in page


def test_save_a_view_for_me_and_for_my_team(world, as_user):
    client = as_user(world["a"])
    response = client.post(
        "/views/people/save/", {"name": "British", "querystring": "country=GB&sort=-name&columns=email"}
    )
    mine = SavedView.objects.get(name="British")
    assert response.status_code == 302 and response.url == f"/people/?view={mine.pk}"
    assert mine.owner == world["a"] and mine.team is None
    assert mine.params == {"country": "GB", "sort": "-name", "columns": ["email"]}
    assert names_on(client.get(response.url).content.decode()) == ["Ada Lovelace"]
    client.post(
        "/views/people/save/",
        {"name": "Tagged", "querystring": f"tag={world['tag'].pk}", "team": world["team_a"].pk},
    )
    shared = SavedView.objects.get(name="Tagged")
    assert shared.team == world["team_a"] and shared.owner is None
    # another member of team A sees the team's view but not alice's own; team B sees neither
    from tests.conftest import make_user

    colleague = make_user("carol", teams=[(world["team_a"], "viewer")])
    assert set(SavedView.objects.visible_to(colleague).values_list("name", flat=True)) == {"Tagged"}
    assert as_user(colleague).get(f"/people/?view={mine.pk}").status_code == 404
    team_b_view = client.post(
        "/views/people/save/", {"name": "Theirs", "querystring": "", "team": world["team_b"].pk}
    )
    assert team_b_view.status_code == 302 and not SavedView.objects.filter(name="Theirs").exists()
    # a bad filter is refused with its name, nothing saved
    client.post("/views/people/save/", {"name": "Bad", "querystring": "created_after=soon"})
    assert not SavedView.objects.filter(name="Bad").exists()


def test_bulk_tag_add_to_list_and_export(world, as_user):
    client = as_user(world["a"])
    ids = [world["ada"].pk, world["charles"].pk, world["secret"].pk]  # the last is not alice's to see
    response = client.post(
        "/people/bulk/", {"ids": ids, "action": "tag", "tag": world["tag"].pk, "next": "/people/"}
    )
    assert response.status_code == 302 and response.url == "/people/"
    assert set(PersonTag.objects.filter(tag=world["tag"]).values_list("person__given_name", flat=True)) == {
        "Ada",
        "Charles",
    }
    client.post("/people/bulk/", {"ids": ids, "action": "list", "list": world["list"].pk})
    assert ListMembership.objects.filter(list=world["list"]).count() == 2
    response = client.post("/people/bulk/", {"ids": ids, "action": "export", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert sorted(r["display_name"] for r in rows) == ["Ada Lovelace", "Charles Babbage"]


def test_bulk_tag_and_export_organisations(world, as_user):
    from kinfolk.people.models import OrganisationTag

    # given two organisations on the list, chosen with their check boxes
    client = as_user(world["a"])
    other = ps.check_create_organisation(data={"name": "=Formula Works"}, actor=SYSTEM)
    html = client.get("/organisations/").content.decode()
    assert 'action="/organisations/bulk/"' in html and f'name="ids" value="{other.pk}"' in html
    assert 'value="merge"' not in html and 'value="list"' not in html  # people only
    ids = [world["org"].pk, other.pk]
    # when they are tagged, then both carry the tag
    response = client.post(
        "/organisations/bulk/",
        {"ids": ids, "action": "tag", "tag": world["tag"].pk, "next": "/organisations/"},
    )
    assert response.status_code == 302 and response.url == "/organisations/"
    assert set(OrganisationTag.objects.values_list("organisation_id", flat=True)) == set(ids)
    # when they are exported, then exactly the chosen ones come out, formulas neutralised
    response = client.post("/organisations/bulk/", {"ids": [other.pk], "action": "export", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [r["name"] for r in rows] == ["'=Formula Works"]
    # an action that organisations do not have changes nothing and says so
    response = client.post(
        "/organisations/bulk/", {"ids": ids, "action": "list", "list": world["list"].pk}, follow=True
    )
    assert "Choose what to do with the chosen rows." in response.content.decode()


def test_bulk_tag_by_a_viewer_is_refused_per_person(world, as_user):
    from tests.conftest import make_user

    viewer = make_user("vera", teams=[(world["team_a"], "viewer")])
    client = as_user(viewer)
    response = client.post(
        "/people/bulk/", {"ids": [world["ada"].pk], "action": "tag", "tag": world["tag"].pk}
    )
    assert response.status_code == 302
    assert PersonTag.objects.count() == 0


def test_list_query_count_does_not_grow_with_rows(world, as_user, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = as_user(world["a"])
    url = "/people/?columns=email&columns=phone&columns=organisation&columns=tags&columns=country"
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    ids = many_people(45)
    for pid in ids[:10]:
        ps.check_tag(Person.objects.get(pk=pid), world["tag"], actor=SYSTEM)
        ps.check_add_detail(
            Person.objects.get(pk=pid), "phones", data={"number": "+44 20 7946 0018"}, actor=SYSTEM
        )
    with CaptureQueriesContext(connection) as many:
        client.get(url)
    assert len(many) == len(few)
    # session, user, memberships, teams' sharing; the page of people and their emails, phones,
    # organisations and tags; the filters' and bulk actions' tags, lists, teams, saved views.
    with django_assert_max_num_queries(13):
        client.get(url)


def test_organisations_list_filters(world, as_user):
    ps.check_create_organisation(data={"name": "Babbage Foundation", "kind": "foundation"}, actor=SYSTEM)
    client = as_user(world["a"])
    page = client.get("/organisations/?kind=foundation").content.decode()
    assert "Babbage Foundation" in page and "Analytical Engines Ltd" not in page
    assert "&#x27;castle&#x27;: expected one of" in client.get("/organisations/?kind=castle").content.decode()
    make_person()  # a person is not an organisation
    assert client.get("/organisations/?sort=-name").status_code == 200


def test_list_rows_show_every_column_escaped(world, as_user):
    # given a person whose pronouns hold markup, tagged, with an organisation
    ada = world["ada"]
    ps.check_update_person(ada, changes={"pronouns": "<b>she</b>"}, actor=SYSTEM)
    ps.check_tag(ada, world["tag"], actor=SYSTEM)
    columns = "&".join(
        f"columns={c}" for c in ("email", "organisation", "country", "tags", "pronouns", "created")
    )
    # when the list shows every column
    html = as_user(world["a"]).get(f"/people/?{columns}").content.decode()
    row = html.split(f'name="ids" value="{ada.pk}"', 1)[1].split("</tr>", 1)[0]
    # then each cell holds its value, escaped
    assert 'aria-label="Choose Ada Lovelace"' in row
    assert f'<a href="/people/{ada.pk}/">Ada Lovelace</a>' in row
    assert '<td data-label="Email">ada@example.org</td>' in row
    assert f'<a href="/organisations/{world["org"].pk}/">Analytical Engines Ltd</a>' in row
    assert '<td data-label="Country">United Kingdom</td>' in row
    assert '<span class="tags"><span class="badge">donor</span></span>' in row
    assert '<td data-label="Pronouns">&lt;b&gt;she&lt;/b&gt;</td>' in row
    assert "<b>she</b>" not in html
    # and a restricted person the user may see carries the badge
    html = as_user(world["b"]).get("/people/").content.decode()
    assert '>Secret Donor</a> <span class="badge warn">restricted</span></td>' in html
