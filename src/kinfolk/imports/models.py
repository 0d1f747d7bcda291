"""Import runs with their checkpoint and per-row results, saved mapping profiles, and the export log."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MappingProfile(models.Model):
    """A named, reusable column mapping: {"column": "target"} plus import options."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    mapping = models.JSONField(_("mapping"), default=dict)
    options = models.JSONField(_("options"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ImportRun(models.Model):
    """One import of one file: its settings, state, checkpoint (last committed row) and counts."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        UNDOING = "undoing", _("being undone")
        UNDONE = "undone", _("undone")

    class OnMatch(models.TextChoices):
        UPDATE = "update", _("update the existing person")
        SKIP = "skip", _("skip the row")
        FLAG = "flag", _("create and flag for review")

    file_path = models.CharField(_("file"), max_length=1000)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    format = models.CharField(_("format"), max_length=8)
    mapping = models.JSONField(_("mapping"), default=dict, help_text=_('{"column": "target"}'))
    on_match = models.CharField(_("when a person exists"), max_length=8, choices=OnMatch.choices)
    strict = models.BooleanField(_("strict"), default=False, help_text=_("Reject a row with any bad cell."))
    default_region = models.CharField(_("default phone region"), max_length=2, blank=True)
    date_order = models.CharField(_("date order"), max_length=3, default="DMY")
    dry_run = models.BooleanField(_("preview only"), default=False)
    team = models.ForeignKey(
        "access.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    checkpoint_row = models.IntegerField(_("last committed row"), default=0)
    rows_done = models.IntegerField(_("rows done"), default=0)
    rows_expected = models.IntegerField(
        _("rows expected"), null=True, blank=True, help_text=_("An estimate.")
    )
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)
    flagged = models.IntegerField(default=0)
    error = models.TextField(_("error"), blank=True)
    # Where undoing stands and what it did: {"phase", "after", "removed", "restored", "conflicts": [...],
    # "conflict_count", "kept": [ids of new people kept because they changed since]}; the undo job's checkpoint.
    undo_state = models.JSONField(_("undo"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"import {self.pk} of {self.file_name}"

    @property
    def job_label(self):
        """How this import names itself in the audit trail (ChangeRecord.via is 'job import-<id>')."""
        return f"import-{self.pk}"

    @property
    def percent_done(self):
        """Progress for a progress bar: 0–100, or None when the size of the file is unknown."""
        if self.status == self.Status.DONE:
            return 100
        if not self.rows_expected:
            return None
        return min(99, round(100 * self.rows_done / self.rows_expected))

    def summary(self):
        return {k: getattr(self, k) for k in ("created", "updated", "skipped", "rejected", "flagged")}


class ImportRowResult(models.Model):
    """What happened to one row of an import: outcome, the person, and every problem by field."""

    class Outcome(models.TextChoices):
        CREATED = "created", _("created")
        UPDATED = "updated", _("updated")
        MERGED = "merged", _("merged into a person created by this import")
        SKIPPED = "skipped", _("skipped")
        REJECTED = "rejected", _("rejected")
        FLAGGED = "flagged", _("created and flagged for review")

    # import_row_once (run, row_number) serves lookups by run: no index of its own.
    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="rows", db_index=False)
    row_number = models.IntegerField()
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    person_id = models.BigIntegerField(null=True, blank=True)
    matched_person_id = models.BigIntegerField(null=True, blank=True)
    problems = models.JSONField(default=list, blank=True, help_text=_('[{"column", "value", "message"}]'))
    raw = models.JSONField(null=True, blank=True, help_text=_("The row as read, kept for rejected rows."))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "row_number"], name="import_row_once")]
        indexes = [models.Index(fields=["run", "outcome"], name="import_row_outcome_idx")]

    def __str__(self):
        return f"row {self.row_number}: {self.outcome}"


class ExportRun(models.Model):
    """The audit entry of one export: who exported what, filtered how, in which format, how many rows."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    source = models.CharField(max_length=16)
    kind = models.CharField(max_length=16)  # people, organisations
    format = models.CharField(max_length=8)
    filters = models.JSONField(default=dict, blank=True)
    rows = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"export of {self.rows} {self.kind} as {self.format}"
