"""Users, teams and memberships: who may see and change what."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from kinfolk.access.querysets import ApiTokenQuerySet, MembershipQuerySet, TeamQuerySet, UserQuerySet
from kinfolk.core.models import KinfolkModel


class Role(models.TextChoices):
    VIEWER = "viewer", _("viewer")  # reads the team's data
    MEMBER = "member", _("member")  # reads and writes the team's data
    MANAGER = "manager", _("manager")  # also manages the team's members and settings


ROLE_RANK = {Role.VIEWER: 1, Role.MEMBER: 2, Role.MANAGER: 3}


class TeamRoles:
    """What an actor with a `team_roles` mapping ({team id: role}) may do in each team."""

    @property
    def team_ids(self):
        return set(self.team_roles)

    def role_in(self, team_id):
        return self.team_roles.get(team_id)

    def has_role(self, team_id, minimum):
        """Whether the actor holds at least `minimum` in the team."""
        role = self.team_roles.get(team_id)
        return role is not None and ROLE_RANK[role] >= ROLE_RANK[minimum]


class User(TeamRoles, AbstractUser):
    """A person who signs in to Kinfolk; an organisation administrator sees and manages everything."""

    is_org_admin = models.BooleanField(
        _("organisation administrator"),
        default=False,
        help_text=_("Sees every team's data and manages teams, users and settings."),
    )
    language = models.CharField(_("language"), max_length=16, blank=True)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)

    objects = UserQuerySet.as_manager_for_users()

    is_system = False
    audit_exclude = ("password", "last_login", "created_at", "updated_at")

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @cached_property
    def team_roles(self):
        """{team id: role} of the teams this user belongs to (cached for the request)."""
        return dict(self.memberships.values_list("team_id", "role"))

    def audit_subjects(self):
        return None, None, None


class Team(KinfolkModel):
    """A group of users that owns data (notes, lists, tags…) and decides who else may see it."""

    class Sharing(models.TextChoices):
        TEAM = "team", _("team only")
        ORG_READ = "org_read", _("organisation may read")
        ORG_WRITE = "org_write", _("organisation may write")

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("short name"), max_length=50, unique=True)
    description = models.TextField(_("description"), blank=True)
    sharing = models.CharField(_("sharing"), max_length=10, choices=Sharing.choices, default=Sharing.ORG_READ)

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def audit_subjects(self):
        return None, None, self.pk


class Membership(KinfolkModel):
    """A user's role in a team."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_unique")]
        ordering = ["team__name", "user__username"]

    def __str__(self):
        return f"{self.user} in {self.team} ({self.role})"

    def audit_subjects(self):
        return None, None, self.team_id


class ApiToken(KinfolkModel):
    """A secret that lets a program act as its user, limited to one team and to read or read-write."""

    class Scope(models.TextChoices):
        READ = "read", _("read")
        WRITE = "write", _("read and write")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100)
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text=_("The team the token works for; empty (administrators only) for the whole organisation."),
    )
    scope = models.CharField(_("scope"), max_length=5, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(_("starts with"), max_length=16, help_text=_("Shown to tell tokens apart."))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    rate_limit = models.PositiveIntegerField(
        _("requests per minute"), null=True, blank=True, help_text=_("Empty: the site's default.")
    )

    objects = ApiTokenQuerySet.as_manager()

    audit_exclude = ("created_at", "updated_at", "key_hash", "last_used_at")

    class Meta:
        verbose_name = _("API token")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    def audit_subjects(self):
        return None, None, self.team_id

    @property
    def is_active(self):
        from django.utils import timezone

        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    def allows(self, actor, action):
        """A token is its user's own: only they (and administrators) see or revoke it."""
        return self.user_id == actor.pk
