"""What the web application keeps for its users: saved list views and the people they follow."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from kinfolk.access.permissions import team_data_allows
from kinfolk.core.models import KinfolkModel
from kinfolk.web.querysets import FollowQuerySet, SavedViewQuerySet


class SavedView(KinfolkModel):
    """A named set of list filters, sort and columns: for its owner alone, or shared with a team."""

    class Kind(models.TextChoices):
        PEOPLE = "people", _("people")
        ORGANISATIONS = "organisations", _("organisations")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("list"), max_length=16, choices=Kind.choices)
    params = models.JSONField(_("filters, sort and columns"), default=dict)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    team = models.ForeignKey("access.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="+")

    objects = SavedViewQuerySet.as_manager()

    class Meta:
        verbose_name = _("saved view")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=False) | Q(team__isnull=False),
                name="saved_view_has_owner",
                violation_error_message=_("A saved view belongs to a user or a team."),
            )
        ]

    def __str__(self):
        return self.name

    def audit_subjects(self):
        return None, None, self.team_id

    def allows(self, actor, action):
        if self.team_id is None:
            return self.owner_id is not None and self.owner_id == getattr(actor, "pk", None)
        return team_data_allows(actor, action, self.team_id)


class Follow(models.Model):
    """A user following a person: the person shows on the user's home page."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey("people.Person", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FollowQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "person"], name="follow_unique")]

    def __str__(self):
        return f"{self.user_id} follows {self.person_id}"
