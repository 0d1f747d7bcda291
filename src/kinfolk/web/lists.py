"""People and organisation lists: filters, sort, columns and keyset pagination, shared by pages and saved views.

A list page reads its state from the query string. `clean_params` turns it into clean values and
messages naming the bad field and value; `page` returns one page of rows with a constant number
of queries, whatever the page and whatever the size of the table (keyset, never OFFSET).
"""

import base64
import datetime
import json
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Prefetch, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kinfolk.access.models import Team
from kinfolk.activities.models import Activity
from kinfolk.identity.normalize import normalize_country
from kinfolk.people.models import (
    Affiliation,
    EmailAddress,
    List,
    ListMembership,
    Organisation,
    OrganisationTag,
    Person,
    PersonTag,
    PhoneNumber,
    Tag,
)

PAGE_SIZE = 50


@dataclass
class Page:
    """One page of a list: rows, the cursors to the neighbouring pages, and the state it was made from."""

    rows: list
    next_cursor: str = ""
    previous_cursor: str = ""
    params: dict = field(default_factory=dict)
    columns: list = field(default_factory=list)


def encode_cursor(direction, value, pk):
    raw = json.dumps([direction, value, pk], default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token):
    """(direction, value, pk) from a cursor, or None if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        direction, value, pk = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if direction not in ("after", "before") or not isinstance(pk, int) or not isinstance(value, str | None):
        return None
    if not 0 <= pk < 2**63:  # a database id; anything else would only overflow the query
        return None
    return direction, value, pk


def _date(value, name, errors):
    parsed = parse_date(value) if isinstance(value, str) else None
    if parsed is None:
        errors[name] = [_("%(value)r: expected a date like 2025-03-31.") % {"value": value}]
    return parsed


def _start_of(day):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _matching(qs, kind, q, name_field):
    """Rows whose search entry has every word of q (through the search index); one or two letters: name prefix."""
    if not q:
        return qs
    from kinfolk.search.query import matching_ids_sql

    subquery = matching_ids_sql(kind, q)
    if subquery is None:
        return qs.filter(**{f"{name_field}__istartswith": q})
    return qs.filter(pk__in=RawSQL(*subquery))


class ListDefinition:
    """What one list offers: its filters, sorts and columns, and how to read a page of it."""

    kind = ""
    model = None
    sorts = {}  # name -> model field
    columns = {}  # name -> label
    default_columns = ()
    filters = ()

    def clean_params(self, params, actor):
        """({name: clean value}, {name: [messages]}) from query-string-like params."""
        errors, cleaned = {}, {}
        get = params.get
        for name in self.filters:
            value = get(name)
            if value in (None, ""):
                continue
            value = str(value).strip()
            try:
                result = getattr(self, f"clean_{name}", lambda v, a, e, n: v)(value, actor, errors, name)
            except (ValueError, TypeError):
                errors[name] = [_("%(value)r is not a valid choice.") % {"value": value}]
                continue
            if name not in errors and result not in (None, ""):
                cleaned[name] = result
        sort = get("sort") or self.default_sort
        if sort.lstrip("-") not in self.sorts:
            errors["sort"] = [
                _("%(value)r: expected one of %(choices)s.")
                % {"value": sort, "choices": ", ".join(self.sorts)}
            ]
            sort = self.default_sort
        cleaned["sort"] = sort
        columns = params.getlist("columns") if hasattr(params, "getlist") else params.get("columns")
        columns = [c for c in (columns or []) if c in self.columns] or list(self.default_columns)
        cleaned["columns"] = columns
        return cleaned, errors

    # Filters shared by both lists -----------------------------------------------------------------
    def _visible_pk(self, model, value, actor, errors, name):
        if not (value.isdigit() and len(value) < 19):
            raise ValueError(value)
        found = model.objects.visible_to(actor).filter(pk=int(value)).first()
        if found is None:
            errors[name] = [
                _("No %(kind)s with id %(value)s.") % {"kind": model._meta.verbose_name, "value": value}
            ]
        return found

    def clean_tag(self, value, actor, errors, name):
        return self._visible_pk(Tag, value, actor, errors, name)

    def clean_created_after(self, value, actor, errors, name):
        return _date(value, name, errors)

    clean_created_before = clean_updated_after = clean_updated_before = clean_created_after

    def _dates(self, qs, cleaned):
        for name, lookup, shift in (
            ("created_after", "created_at__gte", 0),
            ("created_before", "created_at__lt", 1),
            ("updated_after", "updated_at__gte", 0),
            ("updated_before", "updated_at__lt", 1),
        ):
            if name in cleaned:
                qs = qs.filter(**{lookup: _start_of(cleaned[name] + datetime.timedelta(days=shift))})
        return qs

    # Pages ------------------------------------------------------------------------------------------
    def queryset(self, actor, cleaned):
        raise NotImplementedError

    def page(self, actor, cleaned, cursor=None, size=PAGE_SIZE):
        """One page of rows after/before the cursor, in the chosen order, with a constant query count."""
        sort = cleaned["sort"]
        descending = sort.startswith("-")
        column = self.sorts[sort.lstrip("-")]
        qs = self.queryset(actor, cleaned)
        decoded = decode_cursor(cursor) if cursor else None
        backwards = bool(decoded and decoded[0] == "before")
        if decoded:
            _direction, value, pk = decoded
            forward_gt = descending == backwards  # moving towards larger values?
            op = "gt" if forward_gt else "lt"
            # (value, pk) beyond the cursor; the first condition lets the index start at the cursor's value.
            qs = qs.filter(**{f"{column}__{op}e": value}).filter(
                Q(**{f"{column}__{op}": value}) | Q(**{column: value, f"pk__{op}": pk})
            )
            order_desc = not forward_gt
        else:
            order_desc = descending
        prefix = "-" if order_desc else ""
        rows = list(self.prefetch(qs.order_by(f"{prefix}{column}", f"{prefix}pk"), actor)[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        page = Page(rows=rows, params=cleaned, columns=cleaned["columns"])
        if rows:
            first, last = rows[0], rows[-1]
            if more or backwards:
                page.next_cursor = encode_cursor("after", self._key(last, column), last.pk)
            if decoded and (not backwards or more):
                page.previous_cursor = encode_cursor("before", self._key(first, column), first.pk)
        return page

    @staticmethod
    def _key(obj, column):
        value = getattr(obj, column)
        if isinstance(value, datetime.datetime):
            return value.isoformat()
        return value

    def prefetch(self, qs, actor):
        return qs


class PeopleList(ListDefinition):
    kind = "people"
    model = Person
    default_sort = "name"
    sorts = {"name": "display_name", "created": "created_at", "updated": "updated_at"}
    columns = {
        "email": gettext_lazy("Email"),
        "phone": gettext_lazy("Phone"),
        "organisation": gettext_lazy("Organisation"),
        "country": gettext_lazy("Country"),
        "tags": gettext_lazy("Tags"),
        "pronouns": gettext_lazy("Pronouns"),
        "created": gettext_lazy("Created"),
        "updated": gettext_lazy("Updated"),
    }
    default_columns = ("email", "organisation", "tags")
    filters = (
        "q",
        "email",
        "tag",
        "list",
        "organisation",
        "country",
        "team",
        "created_after",
        "created_before",
        "updated_after",
        "updated_before",
    )

    def clean_q(self, value, actor, errors, name):
        return value[:100]

    def clean_email(self, value, actor, errors, name):
        return value.lower()[:254]

    def clean_list(self, value, actor, errors, name):
        return self._visible_pk(List, value, actor, errors, name)

    def clean_organisation(self, value, actor, errors, name):
        return self._visible_pk(Organisation, value, actor, errors, name)

    def clean_team(self, value, actor, errors, name):
        return self._visible_pk(Team, value, actor, errors, name)

    def clean_country(self, value, actor, errors, name):
        try:
            return normalize_country(value)
        except ValidationError as exc:
            errors[name] = [f"{value!r}: {message}" for message in exc.messages]
            return None

    def queryset(self, actor, cleaned):
        qs = _matching(Person.objects.visible_to(actor), "person", cleaned.get("q"), "display_name")
        if "email" in cleaned:
            email = cleaned["email"]
            lookup = {"normalized": email} if "@" in email else {"normalized__startswith": email}
            qs = qs.filter(Exists(EmailAddress.objects.filter(person=OuterRef("pk"), **lookup)))
        if "tag" in cleaned:
            tagged = PersonTag.objects.visible_to(actor).filter(person=OuterRef("pk"), tag=cleaned["tag"])
            qs = qs.filter(Exists(tagged))
        if "list" in cleaned:
            on_list = ListMembership.objects.visible_to(actor).filter(
                person=OuterRef("pk"), list=cleaned["list"]
            )
            qs = qs.filter(Exists(on_list))
        if "organisation" in cleaned:
            qs = qs.filter(
                Exists(
                    Affiliation.objects.filter(person=OuterRef("pk"), organisation=cleaned["organisation"])
                )
            )
        if "country" in cleaned:
            qs = qs.filter(country=cleaned["country"])
        if "team" in cleaned:
            team = cleaned["team"]
            qs = qs.filter(
                Exists(PersonTag.objects.visible_to(actor).filter(person=OuterRef("pk"), team=team))
                | Exists(ListMembership.objects.visible_to(actor).filter(person=OuterRef("pk"), team=team))
                | Exists(Activity.objects.visible_to(actor).filter(person=OuterRef("pk"), team=team))
            )
        return self._dates(qs, cleaned)

    def prefetch(self, qs, actor):
        # Of each row's details, only what a column shows (kinfolk.web.rows): fewer columns to read and convert.
        return qs.prefetch_related(
            Prefetch(
                "emails",
                queryset=EmailAddress.objects.only("person_id", "email").order_by("-is_primary", "id"),
            ),
            Prefetch(
                "phonenumbers",
                queryset=PhoneNumber.objects.only("person_id", "number").order_by("-is_primary", "id"),
            ),
            Prefetch(
                "affiliations",
                queryset=Affiliation.objects.select_related("organisation")
                .only("person_id", "organisation__name")
                .order_by("-is_primary", "id"),
            ),
            Prefetch(
                "taggings",
                queryset=PersonTag.objects.visible_to(actor)
                .select_related("tag")
                .only("person_id", "tag__name")
                .order_by("tag__name"),
                to_attr="visible_taggings",
            ),
        )


class OrganisationsList(ListDefinition):
    kind = "organisations"
    model = Organisation
    default_sort = "name"
    sorts = {"name": "name", "created": "created_at", "updated": "updated_at"}
    columns = {
        "kind": gettext_lazy("Kind"),
        "website": gettext_lazy("Website"),
        "parent": gettext_lazy("Part of"),
        "tags": gettext_lazy("Tags"),
        "created": gettext_lazy("Created"),
        "updated": gettext_lazy("Updated"),
    }
    default_columns = ("kind", "website", "parent", "tags")
    filters = (
        "q",
        "kind",
        "tag",
        "parent",
        "created_after",
        "created_before",
        "updated_after",
        "updated_before",
    )

    def clean_q(self, value, actor, errors, name):
        return value[:100]

    def clean_kind(self, value, actor, errors, name):
        if value not in Organisation.Kind.values:
            errors[name] = [
                _("%(value)r: expected one of %(choices)s.")
                % {"value": value, "choices": ", ".join(Organisation.Kind.values)}
            ]
        return value

    def clean_parent(self, value, actor, errors, name):
        return self._visible_pk(Organisation, value, actor, errors, name)

    def queryset(self, actor, cleaned):
        qs = _matching(Organisation.objects.visible_to(actor), "organisation", cleaned.get("q"), "name")
        if "kind" in cleaned:
            qs = qs.filter(kind=cleaned["kind"])
        if "tag" in cleaned:
            tagged = OrganisationTag.objects.visible_to(actor).filter(
                organisation=OuterRef("pk"), tag=cleaned["tag"]
            )
            qs = qs.filter(Exists(tagged))
        if "parent" in cleaned:
            qs = qs.filter(parent=cleaned["parent"])
        return self._dates(qs, cleaned)

    def prefetch(self, qs, actor):
        return qs.select_related("parent").prefetch_related(
            Prefetch(
                "taggings",
                queryset=OrganisationTag.objects.visible_to(actor)
                .select_related("tag")
                .order_by("tag__name"),
                to_attr="visible_taggings",
            )
        )


LISTS = {"people": PeopleList(), "organisations": OrganisationsList()}


def to_querystring(cleaned):
    """The query string that reproduces a cleaned state (records as ids, dates as ISO)."""
    from django.http import QueryDict

    query = QueryDict(mutable=True)
    for name, value in cleaned.items():
        if name == "columns":
            query.setlist("columns", value)
        elif hasattr(value, "pk"):
            query[name] = str(value.pk)
        elif hasattr(value, "isoformat"):
            query[name] = value.isoformat()
        else:
            query[name] = str(value)
    return query.urlencode()


def params_for_storage(cleaned):
    """A cleaned state as JSON for a saved view."""
    stored = {}
    for name, value in cleaned.items():
        if hasattr(value, "pk"):
            stored[name] = value.pk
        elif hasattr(value, "isoformat"):
            stored[name] = value.isoformat()
        else:
            stored[name] = value
    return stored
