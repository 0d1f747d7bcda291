"""People, their contact details, organisations and how they are connected."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from kinfolk.access.permissions import is_manager_anywhere, shared_record_allows, team_data_allows
from kinfolk.access.scoping import can_write_anywhere
from kinfolk.core.models import KinfolkModel, TeamOwnedMixin
from kinfolk.people import querysets as qs


def compose_display_name(given_name, preferred_name, family_name):
    """'Preferred or given' + family name, the way a person is listed (for values not yet a Person)."""
    first = preferred_name or given_name
    return " ".join(p for p in (first, family_name) if p).strip()


class Person(KinfolkModel):
    """One human being, shared by every team: names, language, and the details to reach them."""

    given_name = models.CharField(_("given name"), max_length=150, blank=True)
    middle_name = models.CharField(_("middle name"), max_length=150, blank=True)
    family_name = models.CharField(_("family name"), max_length=150, blank=True)
    display_name = models.CharField(_("display name"), max_length=300, blank=True)  # person_display_name_idx
    preferred_name = models.CharField(_("preferred name"), max_length=150, blank=True)
    prefix = models.CharField(_("prefix"), max_length=50, blank=True, help_text=_("Dr, Ms, Rev…"))
    suffix = models.CharField(_("suffix"), max_length=50, blank=True, help_text=_("Jr, PhD…"))
    pronouns = models.CharField(_("pronouns"), max_length=50, blank=True)
    language = models.CharField(
        _("language"), max_length=35, blank=True, help_text=_("BCP 47 tag: en, de-CH…")
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, blank=True, help_text=_("IANA name: Europe/Berlin")
    )
    country = CountryField(_("country"), blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    addressing_notes = models.TextField(_("how to address them"), blank=True)
    is_restricted = models.BooleanField(
        _("restricted"),
        default=False,
        help_text=_("Only the named teams (and administrators) can see this person."),
    )

    objects = qs.PersonQuerySet.as_manager()

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        indexes = [
            models.Index(fields=["family_name", "given_name"], name="person_name_idx"),
            # The people list pages by (sort column, id): these keep a page fast on the millionth row.
            models.Index(fields=["display_name", "id"], name="person_display_name_idx"),
            models.Index(fields=["updated_at", "id"], name="person_updated_idx"),
        ]

    def __str__(self):
        return self.display_name or _("(unnamed person)")

    def audit_subjects(self):
        return self.pk, None, None

    def compose_display_name(self):
        """'Preferred or given' + family name, the way the person is listed."""
        return compose_display_name(self.given_name, self.preferred_name, self.family_name)

    def is_visible_to(self, actor):
        if actor.is_org_admin or not self.is_restricted:
            return True
        return self.restrictions.filter(team_id__in=actor.team_ids).exists()

    def allows(self, actor, action):
        if action != "create" and not self.is_visible_to(actor):
            return False
        if action == "view":
            return True
        if self.is_restricted and self.pk:
            teams = set(self.restrictions.values_list("team_id", flat=True))
            minimum = "manager" if action == "delete" else "member"
            return any(actor.has_role(t, minimum) for t in teams)
        if action == "delete":
            return is_manager_anywhere(actor)
        return can_write_anywhere(actor)


class PersonRestriction(models.Model):
    """A team allowed to see a restricted person."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="restrictions")
    team = models.ForeignKey("access.Team", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "team"], name="restriction_unique")]

    def __str__(self):
        return f"{self.person_id} restricted to team {self.team_id}"


class DetailProvenance(models.Model):
    """Feature of contact details: which team and which channel added them, and when (created_at)."""

    added_by_team = models.ForeignKey(
        "access.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("added by team"),
    )
    source = models.CharField(_("source"), max_length=16, blank=True, help_text=_("ui, api, import, cli…"))

    class Meta:
        abstract = True


class PersonDetail(DetailProvenance, KinfolkModel):
    """A contact detail of one person: writable by whoever may change the person."""

    class Meta:
        abstract = True

    def allows(self, actor, action):
        return self.person.allows(actor, "view" if action == "view" else "change")


class OwnerDetail(DetailProvenance, KinfolkModel):
    """A detail that belongs to a person or to an organisation (exactly one of them)."""

    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.CASCADE, related_name="%(class)ss"
    )
    organisation = models.ForeignKey(
        "people.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="%(class)ss"
    )

    class Meta:
        abstract = True

    def allows(self, actor, action):
        owner = self.person if self.person_id else self.organisation
        return owner.allows(actor, "view" if action == "view" else "change")

    @classmethod
    def one_owner(cls, name):
        return models.CheckConstraint(
            condition=(Q(person__isnull=False) & Q(organisation__isnull=True))
            | (Q(person__isnull=True) & Q(organisation__isnull=False)),
            name=name,
            violation_error_message=_("A detail belongs to exactly one person or one organisation."),
        )


class EmailAddress(PersonDetail):
    """An email address of a person; `normalized` is the form used for matching."""

    class Status(models.TextChoices):
        UNVERIFIED = "unverified", _("unverified")
        VERIFIED = "verified", _("verified")
        BOUNCED = "bounced", _("bounced")
        INVALID = "invalid", _("invalid")

    # email_unique_per_person (person, normalized) serves lookups by person: no index of its own.
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="emails", db_index=False)
    email = models.CharField(_("email"), max_length=254)
    normalized = models.CharField(_("normalised email"), max_length=254, db_index=True, editable=False)
    kind = models.CharField(_("kind"), max_length=16, blank=True, help_text=_("work, home, other"))
    is_primary = models.BooleanField(_("primary"), default=False)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.UNVERIFIED)

    objects = qs.PersonDetailQuerySet.as_manager()

    class Meta:
        verbose_name = _("email address")
        verbose_name_plural = _("email addresses")
        ordering = ["-is_primary", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "normalized"],
                name="email_unique_per_person",
                violation_error_message=_("This person already has this email address."),
            ),
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(is_primary=True),
                name="email_one_primary",
                violation_error_message=_("A person has only one primary email address."),
            ),
        ]

    def __str__(self):
        return self.email


class PhoneNumber(OwnerDetail):
    """A phone number, stored in E.164 with the text it was given as."""

    class Kind(models.TextChoices):
        MOBILE = "mobile", _("mobile")
        HOME = "home", _("home")
        WORK = "work", _("work")
        FAX = "fax", _("fax")
        OTHER = "other", _("other")

    number = models.CharField(_("number (E.164)"), max_length=20, db_index=True)
    original = models.CharField(_("as entered"), max_length=64, blank=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.MOBILE)
    is_primary = models.BooleanField(_("primary"), default=False)

    objects = qs.OwnerDetailQuerySet.as_manager()

    class Meta:
        verbose_name = _("phone number")
        ordering = ["-is_primary", "id"]
        constraints = [
            OwnerDetail.one_owner("phone_one_owner"),
            models.UniqueConstraint(
                fields=["person", "number"],
                condition=Q(person__isnull=False),
                name="phone_unique_per_person",
                violation_error_message=_("This person already has this phone number."),
            ),
        ]

    def __str__(self):
        return self.number


class PostalAddress(OwnerDetail):
    """A structured postal address; the country decides how it is written."""

    kind = models.CharField(_("kind"), max_length=16, blank=True, help_text=_("home, work, billing…"))
    street = models.CharField(_("street and number"), max_length=200, blank=True)
    extended = models.CharField(_("address line 2"), max_length=200, blank=True)
    locality = models.CharField(_("city / locality"), max_length=100, blank=True)
    region = models.CharField(_("region / state"), max_length=100, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True, db_index=True)
    country = CountryField(_("country"))
    is_primary = models.BooleanField(_("primary"), default=False)

    objects = qs.OwnerDetailQuerySet.as_manager()

    class Meta:
        verbose_name = _("postal address")
        verbose_name_plural = _("postal addresses")
        ordering = ["-is_primary", "id"]
        constraints = [OwnerDetail.one_owner("address_one_owner")]

    def __str__(self):
        return ", ".join(
            p for p in (self.street, self.postal_code, self.locality, str(self.country.code)) if p
        )


class SocialProfile(OwnerDetail):
    """A profile on a social network or a website."""

    class Network(models.TextChoices):
        MASTODON = "mastodon", "Mastodon"
        BLUESKY = "bluesky", "Bluesky"
        X = "x", "X"
        GITHUB = "github", "GitHub"
        LINKEDIN = "linkedin", "LinkedIn"
        INSTAGRAM = "instagram", "Instagram"
        FACEBOOK = "facebook", "Facebook"
        WEBSITE = "website", _("website")
        OTHER = "other", _("other")

    network = models.CharField(_("network"), max_length=16, choices=Network.choices)
    handle = models.CharField(_("handle"), max_length=200, blank=True)
    url = models.URLField(_("URL"), max_length=500, blank=True)

    objects = qs.OwnerDetailQuerySet.as_manager()

    class Meta:
        verbose_name = _("social profile")
        constraints = [OwnerDetail.one_owner("social_one_owner")]

    def __str__(self):
        return f"{self.get_network_display()}: {self.handle or self.url}"


class ExternalId(OwnerDetail):
    """An identifier of this person or organisation in another system, unique within that system."""

    system = models.CharField(_("system"), max_length=64, help_text=_("salesforce, mailchimp, website…"))
    value = models.CharField(_("value"), max_length=200)

    objects = qs.OwnerDetailQuerySet.as_manager()

    class Meta:
        verbose_name = _("external id")
        constraints = [
            OwnerDetail.one_owner("external_id_one_owner"),
            models.UniqueConstraint(
                fields=["system", "value"],
                condition=Q(person__isnull=False),
                name="external_id_unique_person",
                violation_error_message=_("Another person already has this id in this system."),
            ),
            models.UniqueConstraint(
                fields=["system", "value"],
                condition=Q(organisation__isnull=False),
                name="external_id_unique_org",
                violation_error_message=_("Another organisation already has this id in this system."),
            ),
        ]

    def __str__(self):
        return f"{self.system}:{self.value}"


class Organisation(KinfolkModel):
    """A company, charity, club, chapter or public body; chapters point to their parent."""

    class Kind(models.TextChoices):
        COMPANY = "company", _("company")
        NONPROFIT = "nonprofit", _("non-profit")
        FOUNDATION = "foundation", _("foundation")
        GOVERNMENT = "government", _("public body")
        EDUCATION = "education", _("school or university")
        CLUB = "club", _("club")
        CHAPTER = "chapter", _("chapter")
        REGION = "region", _("region")
        OTHER = "other", _("other")

    name = models.CharField(_("name"), max_length=200, db_index=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.COMPANY)
    domains = models.JSONField(_("email domains"), default=list, blank=True)
    website = models.URLField(_("website"), max_length=300, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("parent"),
    )
    description = models.TextField(_("description"), blank=True)

    objects = qs.OrganisationQuerySet.as_manager()

    class Meta:
        verbose_name = _("organisation")
        ordering = ["name"]
        indexes = [models.Index(fields=["updated_at", "id"], name="organisation_updated_idx")]

    def __str__(self):
        return self.name

    def audit_subjects(self):
        return None, self.pk, None

    def allows(self, actor, action):
        return shared_record_allows(actor, action)


class Affiliation(KinfolkModel):
    """A person's tie to an organisation: employer, board seat, club captaincy."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="affiliations")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="affiliations")
    role = models.CharField(
        _("role"), max_length=100, blank=True, help_text=_("employee, board member, captain")
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    start_date = models.DateField(_("start"), null=True, blank=True)
    end_date = models.DateField(_("end"), null=True, blank=True)
    is_primary = models.BooleanField(_("primary"), default=False)

    objects = qs.PersonDetailQuerySet.as_manager()

    class Meta:
        verbose_name = _("affiliation")
        ordering = ["-is_primary", "-start_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True)
                | Q(start_date__isnull=True)
                | Q(end_date__gte=F("start_date")),
                name="affiliation_dates_ordered",
                violation_error_message=_("The end date is before the start date."),
            )
        ]

    def __str__(self):
        return f"{self.person} — {self.title or self.role or _('affiliated')} — {self.organisation}"

    @property
    def is_current(self):
        from django.utils import timezone

        return self.end_date is None or self.end_date >= timezone.localdate()

    def allows(self, actor, action):
        return self.person.allows(actor, "view" if action == "view" else "change")


class RelationshipType(KinfolkModel):
    """A kind of tie between two people, named in each direction: 'mentor of' / 'mentee of'."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    forward_label = models.CharField(_("label, from the first person"), max_length=100)
    reverse_label = models.CharField(_("label, from the second person"), max_length=100)
    is_symmetric = models.BooleanField(_("same both ways"), default=False)

    objects = qs.SharedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def allows(self, actor, action):
        return action == "view"  # administrators only change the vocabulary


class Relationship(KinfolkModel):
    """A tie between two people; both see it, each from their side."""

    from_person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="relationships_from")
    to_person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="relationships_to")
    type = models.ForeignKey(RelationshipType, on_delete=models.PROTECT, related_name="relationships")
    start_date = models.DateField(_("start"), null=True, blank=True)
    end_date = models.DateField(_("end"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)

    objects = qs.RelationshipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_person=F("to_person")),
                name="relationship_two_people",
                violation_error_message=_("A relationship needs two different people."),
            ),
            models.UniqueConstraint(
                fields=["from_person", "to_person", "type"],
                name="relationship_unique",
                violation_error_message=_("These two people already have this relationship."),
            ),
        ]

    def __str__(self):
        return f"{self.from_person} {self.type.forward_label} {self.to_person}"

    def audit_subjects(self):
        return self.from_person_id, None, None

    def label_for(self, person):
        """How the relationship reads from `person`'s side."""
        if person.pk == self.from_person_id or self.type.is_symmetric:
            return self.type.forward_label
        return self.type.reverse_label

    def other(self, person):
        return self.to_person if person.pk == self.from_person_id else self.from_person

    def allows(self, actor, action):
        wanted = "view" if action == "view" else "change"
        return self.from_person.allows(actor, wanted) and self.to_person.allows(actor, wanted)


class Household(KinfolkModel):
    """People who share a home (and often a mailing): a head and members."""

    name = models.CharField(_("name"), max_length=200)
    head = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    objects = qs.SharedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def allows(self, actor, action):
        return shared_record_allows(actor, action)


class HouseholdMember(KinfolkModel):
    """A person in a household."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="members")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="household_memberships")
    role = models.CharField(_("role"), max_length=50, blank=True, help_text=_("partner, child, lodger…"))

    objects = qs.PersonDetailQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["household", "person"], name="household_member_unique")
        ]

    def __str__(self):
        return f"{self.person} in {self.household}"

    def allows(self, actor, action):
        return self.person.allows(actor, "view" if action == "view" else "change")


class Tag(KinfolkModel):
    """A label for people and organisations: global (team empty) or owned by a team."""

    name = models.CharField(_("name"), max_length=100)
    team = models.ForeignKey("access.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    color = models.CharField(_("colour"), max_length=7, blank=True, help_text=_("#RRGGBB"))

    objects = qs.TagQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"],
                name="tag_unique_in_team",
                violation_error_message=_("The team already has a tag of this name."),
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(team__isnull=True),
                name="tag_unique_global",
                violation_error_message=_("A global tag of this name exists."),
            ),
        ]

    def __str__(self):
        return self.name

    def allows(self, actor, action):
        if self.team_id is None:
            return action == "view"  # administrators manage global tags
        return team_data_allows(actor, action, self.team_id)


class TeamData(TeamOwnedMixin, KinfolkModel):
    """Base of team-owned records: read by the team's sharing setting, written by its members."""

    class Meta:
        abstract = True

    def allows(self, actor, action):
        if not team_data_allows(actor, action, self.team_id):
            return False
        person = getattr(self, "person", None)
        return person is None or person.is_visible_to(actor)


class PersonTag(TeamData):
    """A tag on a person, applied on behalf of a team."""

    # Indexed by person_tag_team_idx below (and the unique person + tag), not on its own.
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="taggings", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="person_taggings")

    objects = qs.TeamDataQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["person", "tag"],
                name="person_tag_unique",
                violation_error_message=_("The person already has this tag."),
            )
        ]
        indexes = [
            # A list page's tags: `person IN (…50 ids) AND team IN (the teams the user may read)`. With
            # both in one index SQLite starts from the people; with only the person index it preferred
            # the team index (no statistics), reading every tagging of those teams: 3 ms at 100k people.
            models.Index(fields=["person", "team"], name="person_tag_team_idx"),
        ]

    def __str__(self):
        return f"{self.tag} on {self.person}"


class OrganisationTag(TeamData):
    """A tag on an organisation, applied on behalf of a team."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="taggings")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="organisation_taggings")

    objects = qs.TeamDataQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "tag"],
                name="organisation_tag_unique",
                violation_error_message=_("The organisation already has this tag."),
            )
        ]

    def __str__(self):
        return f"{self.tag} on {self.organisation}"


class List(TeamData):
    """A static list of people kept by a team: invitees, a phone bank, a board."""

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)

    objects = qs.TeamDataQuerySet.as_manager()

    class Meta:
        verbose_name = _("list")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"],
                name="list_unique_in_team",
                violation_error_message=_("The team already has a list of this name."),
            )
        ]

    def __str__(self):
        return self.name


class ListMembership(TeamData):
    """A person on a list (team is the list's team)."""

    list = models.ForeignKey(List, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="list_memberships")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = qs.TeamDataQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["list", "person"],
                name="list_member_unique",
                violation_error_message=_("The person is already on this list."),
            )
        ]

    def __str__(self):
        return f"{self.person} on {self.list}"
