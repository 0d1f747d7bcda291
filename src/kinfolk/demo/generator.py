"""Builds the demo organisation: teams, users, people, organisations, links and a timeline."""

import csv
import datetime
import hashlib
import random
import re

import phonenumbers
from anyascii import anyascii
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from faker import Faker

from kinfolk.access.actors import SYSTEM
from kinfolk.access.models import Role, Team, User
from kinfolk.access.services import check_add_member, check_create_team, check_create_user
from kinfolk.activities.models import Activity
from kinfolk.identity.matching import given_key
from kinfolk.people import services as people_services
from kinfolk.people.bulk import bulk_create_affiliations, bulk_create_people, bulk_insert
from kinfolk.people.models import (
    ExternalId,
    Household,
    HouseholdMember,
    List,
    ListMembership,
    Person,
    PersonTag,
    Relationship,
    RelationshipType,
    Tag,
)

CHUNK = 5000
FAMILY_SHARE = 0.06  # people who live with one to three relatives (a household)
FAMILY_ROLES = ["", "partner", "child", "child"]  # the head (marked as such), then who lives with them
LOCALES = {
    "en_GB": "GB", "en_US": "US", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES", "it_IT": "IT",
    "pt_BR": "BR", "pl_PL": "PL", "nl_NL": "NL", "sv_SE": "SE", "ja_JP": "JP", "hi_IN": "IN", "tr_TR": "TR",
}  # fmt: skip
LOCALES_LIST = list(LOCALES)
LOCALE_OF = {country: locale for locale, country in LOCALES.items()}
TIME_ZONES = {"GB": "Europe/London", "US": "America/New_York", "DE": "Europe/Berlin", "FR": "Europe/Paris",
              "ES": "Europe/Madrid", "IT": "Europe/Rome", "BR": "America/Sao_Paulo", "PL": "Europe/Warsaw",
              "NL": "Europe/Amsterdam", "SE": "Europe/Stockholm", "JP": "Asia/Tokyo", "IN": "Asia/Kolkata",
              "TR": "Europe/Istanbul"}  # fmt: skip
ACTIVITY_KINDS = ["note", "call", "meeting", "task", "email"]
TEAMS = [
    ("Fundraising", "team", "fundraiser", Role.MANAGER),
    ("Community & Events", "org_write", "events", Role.MEMBER),
    ("Partnerships", "org_read", "partners", Role.MEMBER),
    ("Email & Communications", "org_read", "comms", Role.VIEWER),
]
REL_TYPES = [
    ("mentor", "mentor of", "mentee of", False),
    ("spouse", "spouse of", "spouse of", True),
    ("colleague", "colleague of", "colleague of", True),
    ("referral", "referred", "was referred by", False),
    ("parent", "parent of", "child of", False),
]
NICKNAMES = {
    "Robert": "Bob", "Elizabeth": "Liz", "William": "Bill", "Margaret": "Peggy", "James": "Jim",
    "Katherine": "Kate", "Michael": "Mike", "Jennifer": "Jenny", "Thomas": "Tom", "Alexander": "Alex",
    "Christopher": "Chris", "Daniel": "Dan", "Susanne": "Susi", "Johannes": "Hannes", "Francesco": "Franco",
}  # fmt: skip
ORG_KINDS = ["company", "nonprofit", "foundation", "education", "club", "government"]
NOTES = ["Met at the spring gala", "Asked about volunteering", "Interested in the annual report",
         "Prefers email over calls", "Offered to host a meeting", "Renewed their membership"]  # fmt: skip
TAGS_GLOBAL = ["volunteer", "donor", "member", "press", "speaker"]
TAGS_TEAM = {"Fundraising": ["major donor", "lapsed"], "Community & Events": ["gala 2025"]}
LISTS = {
    "Fundraising": "Spring appeal",
    "Community & Events": "Event invitations",
    "Partnerships": "Partners",
}


class Pools:
    """Names, streets, places and phone number plans per locale, drawn once from Faker (Faker per
    field is too slow).

    Names come from small pools, as in life (a few hundred given and family names cover most people
    of a country); phone numbers and homes do not: each person draws a number of their own from ten
    million per country and a house number on one of hundreds of streets in one of a hundred
    places, so that, as in a real population, only the members of one household share a home and
    a home phone. (Pools of sixty numbers and forty addresses per country made a thousand
    strangers share each number at a million people, a coincidence no real data set has.)
    """

    def __init__(self, seed, size=150):
        self.locales = {}
        for locale, country in LOCALES.items():
            fake = Faker(locale)
            fake.seed_instance(seed)
            first = sorted({fake.first_name() for _ in range(size)})
            last = sorted({fake.last_name() for _ in range(size)})
            streets = sorted({fake.street_address().replace("\n", ", ") for _ in range(300)})
            places = [(fake.city(), fake.postcode()[:20]) for _ in range(100)]
            self.locales[locale] = (country, first, last, (streets, places), _phone_plan(country))
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.companies = sorted({fake.company() for _ in range(400)})


_DIGITS = re.compile(r"\d+")
_PHONE_DIGITS = 7  # the digits drawn per number: ten million numbers per country


def _phone_plan(country):
    """(country calling code, national prefix, region) for numbers like the country's example mobile."""
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    national = str(example.national_number)
    return example.country_code, national[:-_PHONE_DIGITS], country


def _phone(rng, plan):
    """A valid number of the plan, in E.164 (the last seven digits drawn; an invalid draw is redrawn)."""
    code, prefix, region = plan
    for _ in range(20):
        national = f"{prefix}{rng.randrange(10**_PHONE_DIGITS):0{_PHONE_DIGITS}d}"
        number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
        if phonenumbers.is_valid_number_for_region(number, region):
            return f"+{code}{national}"
    raise ValueError(f"no valid phone number found for {region}")


def _address(rng, home_pools, country):
    """A home: a street of the pool with a house number of its own, in one of the pool's places."""
    streets, places = home_pools
    street = rng.choice(streets)
    number = str(rng.randrange(1, 1000))
    street = _DIGITS.sub(number, street, count=1) if _DIGITS.search(street) else f"{street} {number}"
    city, postcode = rng.choice(places)
    return {"street": street, "locality": city, "postal_code": postcode, "country": country}


def _ascii_name(text):
    return "".join(c for c in anyascii(text).lower() if c.isalnum()) or "person"


def _user(username, password, actor):
    existing = User.objects.filter(username=username).first()
    if existing:
        return existing
    return check_create_user(
        data={"username": username, "email": f"{username}@example.org"}, password=password, actor=actor
    )


def _demo_password():
    path = settings.HOME / "demo-login.txt"
    if path.exists():
        parts = path.read_text().split()
        if len(parts) >= 2:
            return parts[1]
    return None


def _setup(actor):
    """Teams, users, relationship types, tags and lists: reused when the demo runs again."""
    password = _demo_password()
    teams = {}
    for name, sharing, username, role in TEAMS:
        team = Team.objects.filter(name=name).first() or check_create_team(
            data={"name": name, "sharing": sharing}, actor=actor
        )
        user = _user(username, password, actor)
        check_add_member(team, user, role=role, actor=actor)
        teams[name] = (team, user)
    types = {}
    for name, fwd, rev, sym in REL_TYPES:
        types[name] = RelationshipType.objects.filter(name=name).first() or (
            people_services.check_create_relationship_type(
                data={"name": name, "forward_label": fwd, "reverse_label": rev, "is_symmetric": sym},
                actor=actor,
            )
        )
    tags = [Tag.objects.filter(name=n, team=None).first() or people_services.check_create_tag(
        data={"name": n}, actor=actor) for n in TAGS_GLOBAL]  # fmt: skip
    team_tags = []
    for tname, names in TAGS_TEAM.items():
        team = teams[tname][0]
        for n in names:
            tag = Tag.objects.filter(name=n, team=team).first() or people_services.check_create_tag(
                data={"name": n}, team=team, actor=actor
            )
            team_tags.append((team, tag))
    lists = []
    for tname, lname in LISTS.items():
        team = teams[tname][0]
        lists.append(
            List.objects.filter(team=team, name=lname).first()
            or people_services.check_create_list(team=team, data={"name": lname}, actor=actor)
        )
    return teams, types, tags, team_tags, lists


def _organisations(rng, pools, n, offset, actor):
    orgs = []
    for i in range(n):
        name = f"{rng.choice(pools.companies)}"
        if any(o.name == name for o in orgs):
            name = f"{name} {offset + i}"
        slug = _ascii_name(name)[:30]
        orgs.append(
            people_services.check_create_organisation(
                data={"name": name, "kind": rng.choice(ORG_KINDS), "domains": [f"{slug}.example"],
                      "website": f"https://{slug}.example"},
                actor=actor,
            )
        )  # fmt: skip
    for parent in orgs[:3]:  # a few chapters
        for city in ("North", "South"):
            orgs.append(
                people_services.check_create_organisation(
                    data={"name": f"{parent.name} — {city}", "kind": "chapter", "parent": parent.pk},
                    actor=actor,
                )
            )
    return orgs


class UniqueEmails:
    """Keeps the email addresses of one demo run unique, in fixed memory (a Bloom filter of 16 MiB).

    Two people of the demo who share a name and a country would otherwise draw the same address
    one time in a hundred: at a million people that is some twenty thousand pairs that look like
    one person but are not planted as duplicates, which would make the planted truth wrong.
    A false positive of the filter only renames an address that was in fact free.
    """

    BITS = 1 << 27

    def __init__(self):
        self.bits = bytearray(self.BITS // 8)

    def _add(self, text):
        """Record text; True if it (probably) was there already."""
        digest = hashlib.blake2b(text.encode(), digest_size=12).digest()
        seen = True
        for i in (0, 4, 8):
            bit = int.from_bytes(digest[i : i + 4], "little") % self.BITS
            byte, mask = bit >> 3, 1 << (bit & 7)
            if not self.bits[byte] & mask:
                seen = False
                self.bits[byte] |= mask
        return seen

    def make(self, local, domain):
        """local@domain, or local.2@domain, local.3@domain… if taken earlier in this run."""
        email, n = f"{local}@{domain}", 1
        while self._add(email):
            n += 1
            email = f"{local}.{n}@{domain}"
        return email


def _person(rng, pools, key, emails=None, *, relative_of=None, taken=()):
    """One person as validate_person returns it: (values, details).

    The pieces are made in their normal form (phones valid in E.164, lower-case ASCII emails), so
    the 1M-row path skips per-row validation; tests check that every email and phone written
    equals its normalised form.

    relative_of is the (values, details) of someone this person lives with: the same country and
    home, usually the same family name, half the time the same (home) phone, but a given name and
    an email address of their own (a given name not in `taken`, the names of the family so far).
    Such people are not duplicates of each other: they are what
    duplicate detection must not merge.
    """
    head_values, head_details = relative_of or ({}, {})
    locale = LOCALE_OF[head_values["country"]] if relative_of else rng.choice(LOCALES_LIST)
    country, first, last, home_pools, plan = pools.locales[locale]
    given, family = rng.choice(first), rng.choice(last)
    if relative_of:
        while given_key(given) in taken and len(first) > len(taken):
            given = rng.choice(first)
        if rng.random() < 0.8:
            family = head_values["family_name"]
    values = {"given_name": given, "family_name": family, "country": country}
    # A number from the seed, not the key, so that a second run with the same seed has the same emails.
    local = f"{_ascii_name(given)}.{_ascii_name(family)}{rng.randrange(100)}"
    domain = f"example.{country.lower()}"
    email = emails.make(local, domain) if emails is not None else f"{local}@{domain}"
    details = {"emails": [{"email": email, "normalized": email}], "phones": [], "addresses": [],
               "social_profiles": [], "external_ids": [{"system": "demo", "value": key}]}  # fmt: skip
    if relative_of and head_details["phones"] and rng.random() < 0.5:
        details["phones"].append(dict(head_details["phones"][0]))
    elif rng.random() < 0.8:
        number = _phone(rng, plan)
        details["phones"].append({"number": number, "original": number})
    if relative_of:  # the household's address, if it is known
        details["addresses"].extend(dict(a) for a in head_details["addresses"][:1])
    elif rng.random() < 0.7:
        details["addresses"].append(_address(rng, home_pools, country))
    if rng.random() < 0.2:
        network = rng.choice(["mastodon", "github", "linkedin"])
        details["social_profiles"].append(
            {"network": network, "handle": f"{_ascii_name(given)}{rng.randrange(1000)}"}
        )
    if rng.random() < 0.3:
        values["pronouns"] = rng.choice(["she/her", "he/him", "they/them"])
    if rng.random() < 0.3:
        values["language"] = locale.split("_")[0]
        values["time_zone"] = TIME_ZONES[country]
    if rng.random() < 0.5:
        details["external_ids"].append({"system": "legacy_db", "value": f"L{key}"})
    return values, details


def _typo(rng, text):
    """text with two neighbouring letters swapped (Morel -> Mroel), or text if too short."""
    if len(text) <= 3:
        return text
    i = rng.randrange(1, len(text) - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _distort_name(rng, values):
    """Change the name as people mistype or vary it; returns the kind of change."""
    given, family = values["given_name"], values["family_name"]
    choice = rng.randrange(6)
    if choice == 0 and given in NICKNAMES:
        values["given_name"] = NICKNAMES[given]
        return "nickname"
    if choice == 1 and anyascii(family) != family:
        values["family_name"] = anyascii(family)
        return "transliteration"
    if choice == 2:
        values["given_name"], values["family_name"] = family, given
        return "swapped names"
    if choice == 3 and len(given) > 1:
        values["given_name"] = f"{given[0]}."
        return "initial"
    if choice == 5 or len(family) <= 3:
        return "same name"
    values["family_name"] = _typo(rng, family)
    return "typo"


def _distort(rng, original, key, emails=None):
    """A realistic duplicate of original (values, details): returns (values, details, kinds of distortion).

    The duplicate keeps what a person reviewing the pair would need to call it one person: its
    email address, or else both its phone number and its postal address. A record sharing only a
    name with its original is no findable duplicate: in a demo of a million people about five
    different people share each name; and a phone or an address alone may be a household's, which
    relatives share (see `_person`), so neither alone tells people apart.
    """
    rng = random.Random(rng.getrandbits(64))  # the planting draws from its own stream
    values, details = original
    values = dict(values)
    details = {k: list(v) for k, v in details.items()}
    details["social_profiles"] = []
    kinds = [_distort_name(rng, values)]
    given = values["given_name"]
    has_phone, has_address = bool(details["phones"]), bool(details["addresses"])
    roll = rng.random()
    if has_phone and has_address and roll < 0.6:
        if roll < 0.3:
            details["emails"] = []
            kinds.append("missing email")
        else:
            local = f"{_ascii_name(given)}{rng.randrange(1000)}"
            email = emails.make(local, "example.net") if emails is not None else f"{local}@example.net"
            details["emails"] = [{"email": email, "normalized": email}]
            kinds.append("different email")
        detail_roll = rng.random() + 0.5  # the phone may be written differently, nothing more goes
    else:
        detail_roll = rng.random()
    if detail_roll < 0.25 and has_phone:
        details["phones"] = []
        kinds.append("missing phone")
    elif detail_roll < 0.5 and has_address:
        details["addresses"] = []
        kinds.append("missing address")
    elif has_phone and detail_roll < 1.0:
        number = details["phones"][0]["number"]
        national = phonenumbers.format_number(
            phonenumbers.parse(number), phonenumbers.PhoneNumberFormat.NATIONAL
        )
        details["phones"] = [{"number": number, "original": national}]
        kinds.append("phone formatted")
    details["external_ids"] = [{"system": "demo", "value": f"dup-of:{key}"}]
    return values, details, kinds


ACTIVITIES_PER_PERSON = 1.5


def generate(*, people=2000, seed=1, activities_per_person=ACTIVITIES_PER_PERSON, progress=None):
    """Create a demo organisation of `people` people (reproducible by seed); returns what was made.

    Each person gets between 0 and twice `activities_per_person` timeline items (notes, calls,
    meetings, tasks), evenly drawn: the benchmark's 1M people with 10 each make its 10M activities.
    """
    from kinfolk.search.index import bulk_indexing

    if not 0 <= activities_per_person <= 1000:
        raise ValueError(f"activities per person: {activities_per_person!r}, expected 0 to 1000")
    # The search index is brought up to date in bulk at the end, not person by person.
    with bulk_indexing():
        return _generate(people=people, seed=seed, activities=round(2 * activities_per_person) + 1,
                         progress=progress)  # fmt: skip


def _generate(*, people, seed, activities, progress):
    rng = random.Random(seed)
    actor = User.objects.filter(is_org_admin=True).order_by("pk").first() or SYSTEM
    teams, *setup = _setup(actor)
    pools = Pools(seed)
    emails = UniqueEmails()
    offset = Person.objects.count()  # keys stay unique when the demo runs again
    orgs = _organisations(rng, pools, max(30, people // 20), offset, actor)
    summary = {"teams": len(teams), "people": 0, "organisations": len(orgs), "duplicates planted": 0,
               "restricted people": 0, "relationships": 0, "activities": 0}  # fmt: skip
    csv_path = settings.HOME / "demo-duplicates.csv"
    new_file = not csv_path.exists()
    with open(csv_path, "a", newline="") as fh:
        out = csv.writer(fh)
        if new_file:
            out.writerow(["original person id", "duplicate person id", "kinds of distortion"])
        done = 0
        while done < people:
            n = min(CHUNK, people - done)
            with transaction.atomic():
                _chunk(
                    rng, pools, n, offset + done, actor, teams, setup, orgs, out, summary, emails, activities
                )
            done += n
            if progress:
                progress(done, people)
    return summary


def _chunk(rng, pools, n, start, actor, teams, setup, orgs, out, summary, emails, activities):
    plain, restricted, planted = [], [], []
    originals, families = [], []
    n_dups = round(n * rng.uniform(0.05, 0.1))
    n_orig = n - n_dups
    i = 0
    while i < n_orig:
        key = str(start + i)
        person = _person(rng, pools, key, emails)
        family = [(key, person)]
        if rng.random() < FAMILY_SHARE:  # one to three people living with them
            for _ in range(min(rng.randint(1, 3), n_orig - i - 1)):
                relative_key = str(start + i + len(family))
                taken = {given_key(p[0]["given_name"]) for _k, p in family}
                relative = _person(rng, pools, relative_key, emails, relative_of=person, taken=taken)
                family.append((relative_key, relative))
        if len(family) > 1:
            families.append([k for k, _p in family])
        for key, member in family:
            originals.append((key, member))
            (restricted if rng.random() < 0.01 else plain).append((key, member))
        i += len(family)
    for j, (key, person) in enumerate(rng.sample(originals, n_dups)):
        dup_key = str(start + n_orig + j)
        values, details, kinds = _distort(rng, person, key, emails)
        planted.append((key, dup_key, kinds))
        plain.append((dup_key, (values, details)))
    ids = {}
    for group, teams_ in ((plain, ()), (restricted, (teams["Fundraising"][0],))):
        new = bulk_create_people([p for _k, p in group], actor=actor, restricted_to=teams_)
        ids.update({k: pid for (k, _p), pid in zip(group, new, strict=True)})
    for key, dup_key, kinds in planted:
        out.writerow([ids[key], ids[dup_key], "; ".join(kinds)])
    summary["people"] += n
    summary["duplicates planted"] += n_dups
    summary["restricted people"] += len(restricted)
    names = {ids[k]: _display(p[0]) for k, p in originals}
    _links(rng, names, [[ids[k] for k in keys] for keys in families], actor, teams, setup, orgs, summary)
    _activities(rng, list(ids.values()), actor, teams, activities, summary)


def _display(values):
    return f"{values['given_name']} {values['family_name']}"


def _links(rng, names, families, actor, teams, setup, orgs, summary):
    types, tags, team_tags, lists = setup
    pids = list(names)
    affiliations = []
    for pid in rng.sample(pids, len(pids) // 3):
        role = rng.choice(["employee", "board", "volunteer"])
        affiliations.append({"person_id": pid, "person_label": names[pid], "organisation": rng.choice(orgs),
                             "role": role, "title": "", "is_primary": True})  # fmt: skip
    bulk_create_affiliations(affiliations, actor=actor)
    rels, seen = [], set()
    type_list = list(types.values())
    for _ in range(len(pids) // 4):
        a, b = rng.sample(pids, 2)
        rtype = rng.choice(type_list)
        a, b = (min(a, b), max(a, b)) if rtype.is_symmetric else (a, b)
        if (a, b, rtype.pk) in seen:
            continue
        seen.add((a, b, rtype.pk))
        label = f"{names[a]} {rtype.forward_label} {names[b]}"
        rels.append({"from_person_id": a, "to_person_id": b, "type_id": rtype.pk, "repr": label})
    probe = Relationship(
        from_person=Person(display_name="-"), to_person=Person(display_name="-"), type=type_list[0]
    )
    bulk_insert(Relationship, rels, actor=actor, probe=probe)
    summary["relationships"] += len(rels)
    # A household for each family that lives together (see _person), its first member the head.
    households = [
        {"name": f"{names[family[0]].split()[-1]} household", "head_id": family[0], "repr": names[family[0]]}
        for family in families
    ]
    household_ids = bulk_insert(Household, households, actor=actor)
    members = [
        {"household_id": h, "person_id": p, "role": FAMILY_ROLES[i], "repr": names[p]}
        for h, family in zip(household_ids, families, strict=True)
        for i, p in enumerate(family)
    ]
    bulk_insert(
        HouseholdMember,
        members,
        actor=actor,
        probe=HouseholdMember(person=Person(display_name="-"), household=Household()),
    )
    summary["households"] = summary.get("households", 0) + len(households)
    choices = [(teams["Community & Events"][0], t) for t in tags] + team_tags
    taggings = []
    for pid in rng.sample(pids, len(pids) // 4):
        team, tag = rng.choice(choices)
        taggings.append(
            {"person_id": pid, "tag_id": tag.pk, "team_id": team.pk, "repr": f"{tag} on {names[pid]}"}
        )
    bulk_insert(PersonTag, taggings, actor=actor, probe=PersonTag(person=Person(display_name="-"), tag=Tag()))
    memberships = [{"list_id": lst.pk, "person_id": pid, "team_id": lst.team_id, "repr": f"{names[pid]} on {lst}"}
                   for lst in lists for pid in rng.sample(pids, len(pids) // 10)]  # fmt: skip
    bulk_insert(
        ListMembership,
        memberships,
        actor=actor,
        probe=ListMembership(person=Person(display_name="-"), list=List()),
    )


def _activities(rng, pids, actor, teams, per_person, summary):
    """Between 0 and per_person - 1 timeline items for each person, evenly drawn."""
    now = timezone.now()
    activities = []
    team_list = list(teams.values())
    for pid in pids:
        for _ in range(rng.randrange(0, per_person)):
            team, user = rng.choice(team_list)
            kind = rng.choice(ACTIVITY_KINDS)
            when = now - datetime.timedelta(days=rng.uniform(0, 3 * 365))
            subject = rng.choice(NOTES)
            row = {"team_id": team.pk, "person_id": pid, "kind": kind, "subject": subject,
                   "occurred_at": when, "author_id": user.pk, "repr": subject}  # fmt: skip
            if kind == "task":
                row["due_at"] = when + datetime.timedelta(days=rng.randrange(1, 30))
                row["assignee_id"] = user.pk
                if when < now - datetime.timedelta(days=60):
                    row["completed_at"] = row["due_at"]
            activities.append(row)
    bulk_insert(Activity, activities, actor=actor)
    summary["activities"] += len(activities)


def planted_duplicates():
    """[(original person id, duplicate person id)] of every planted duplicate, read from the database."""
    keys = dict(
        ExternalId.objects.filter(system="demo", person__isnull=False).values_list("value", "person_id")
    )
    return sorted(
        (keys[value.removeprefix("dup-of:")], pid)
        for value, pid in keys.items()
        if value.startswith("dup-of:") and value.removeprefix("dup-of:") in keys
    )
