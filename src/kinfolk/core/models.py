"""The base model, its feature mixins, and the audit trail (ChangeRecord)."""

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kinfolk.core.querysets import ChangeRecordQuerySet, JobQuerySet


class TimestampedModel(models.Model):
    """Feature: created_at / updated_at kept by the database layer."""

    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class CustomFieldsMixin(models.Model):
    """Feature: custom_field_data, a JSON object of values for organisation-defined fields."""

    custom_field_data = models.JSONField(_("custom fields"), default=dict, blank=True)

    class Meta:
        abstract = True


class ChangeLoggedMixin:
    """Feature: every create, update and delete goes to the audit trail (see core.audit)."""

    # Fields never written to the audit trail (secrets, derived search keys).
    audit_exclude = ("created_at", "updated_at", "password")

    def audit_subjects(self):
        """(person id, organisation id, owning team id) whose history this change belongs to."""
        person_id = getattr(self, "person_id", None)
        organisation_id = getattr(self, "organisation_id", None)
        team_id = getattr(self, "team_id", None)
        return person_id, organisation_id, team_id


class KinfolkModel(ChangeLoggedMixin, CustomFieldsMixin, TimestampedModel):
    """Base of every Kinfolk record: timestamps, custom fields, change logging."""

    class Meta:
        abstract = True


class TeamOwnedMixin(models.Model):
    """Feature: the record is team data, owned by one team and shared by its sharing setting."""

    team = models.ForeignKey(
        "access.Team", on_delete=models.PROTECT, related_name="+", verbose_name=_("team")
    )

    class Meta:
        abstract = True


class ChangeRecord(models.Model):
    """One create, update, delete, link or unlink of a record: who, from where, when, before and after."""

    class Action(models.TextChoices):
        CREATE = "create", _("created")
        UPDATE = "update", _("updated")
        DELETE = "delete", _("deleted")
        LINK = "link", _("linked")
        UNLINK = "unlink", _("unlinked")

    time = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, help_text=_("Who acted, as shown at the time."))
    source = models.CharField(max_length=16)
    via = models.CharField(max_length=200, blank=True, help_text=_("Token, job or plugin that acted."))
    # Not indexed: nothing looks changes up by request, and every index costs each write (imports
    # write a change record per new person); change_object_idx serves lookups by object type.
    request_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=8, choices=Action.choices)
    object_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+", db_index=False)
    object_id = models.BigIntegerField()
    object_repr = models.CharField(max_length=200)
    # Whose history the change belongs to: kept as plain ids so that history outlives the record.
    person_id = models.BigIntegerField(null=True, blank=True)
    organisation_id = models.BigIntegerField(null=True, blank=True)
    team = models.ForeignKey(
        "access.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes = models.JSONField(default=dict, help_text=_('{"field": {"before": …, "after": …}}'))

    objects = ChangeRecordQuerySet.as_manager()

    class Meta:
        ordering = ["time", "id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "time"], name="change_object_idx"),
            models.Index(fields=["person_id", "time"], name="change_person_idx"),
            models.Index(fields=["organisation_id", "time"], name="change_org_idx"),
        ]

    def __str__(self):
        return f"{self.get_action_display()} {self.object_repr} by {self.actor_label}"


class Job(models.Model):
    """A piece of background work the UI and API can follow: status, progress, log and result."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(_("kind"), max_length=64, help_text=_("import, export, dedupe…"))
    label = models.CharField(_("label"), max_length=200, blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    progress_done = models.BigIntegerField(_("done"), default=0)
    progress_total = models.BigIntegerField(_("total"), null=True, blank=True)
    log = models.JSONField(_("log"), default=list, blank=True, help_text=_('[{"time", "level", "message"}]'))
    result = models.JSONField(_("result"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    team = models.ForeignKey(
        "access.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, blank=True, help_text=_("Where the job was started from."))
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Last sign of life of its worker.")
    )
    worker = models.CharField(max_length=100, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat_idx")]

    def __str__(self):
        return self.label or f"{self.kind} job {self.pk}"

    @property
    def is_finished(self):
        return self.status in self.FINISHED

    @property
    def percent_done(self):
        """0–100 for a progress bar, or None when the total is unknown."""
        if self.status == self.Status.DONE:
            return 100
        if not self.progress_total:
            return None
        return min(99, int(100 * self.progress_done / self.progress_total))
