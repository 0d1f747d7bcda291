"""The timeline: notes, calls, meetings, tasks, emails and system events, owned by a team."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kinfolk.people.models import TeamData
from kinfolk.people.querysets import TeamDataQuerySet


class Activity(TeamData):
    """Something a team did with or about a person or organisation, at a time, by an author."""

    class Kind(models.TextChoices):
        NOTE = "note", _("note")
        CALL = "call", _("call")
        MEETING = "meeting", _("meeting")
        TASK = "task", _("task")
        EMAIL = "email", _("email")
        EVENT = "event", _("system event")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.NOTE)
    person = models.ForeignKey(
        "people.Person", null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    organisation = models.ForeignKey(
        "people.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="activities"
    )
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = models.TextField(_("text"), blank=True)
    occurred_at = models.DateTimeField(_("when"), default=timezone.now)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tasks",
    )
    completed_at = models.DateTimeField(_("done"), null=True, blank=True)

    objects = TeamDataQuerySet.as_manager()

    class Meta:
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["person", "-occurred_at"], name="activity_person_time_idx"),
            models.Index(fields=["organisation", "-occurred_at"], name="activity_org_time_idx"),
            models.Index(fields=["assignee", "completed_at"], name="activity_open_tasks_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(person__isnull=False) | Q(organisation__isnull=False),
                name="activity_has_subject",
                violation_error_message=_("An activity is about a person or an organisation."),
            )
        ]

    def __str__(self):
        return self.subject or f"{self.get_kind_display()} {self.occurred_at:%Y-%m-%d}"
