"""Identity resolution records: matching keys, rules, duplicate candidates and merges."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class MatchKey(models.Model):
    """A blocking key of one person (kind + normalised value); people sharing a key are compared."""

    person_id = models.BigIntegerField(db_index=True)
    kind = models.CharField(max_length=16)
    value = models.CharField(max_length=200)

    class Meta:
        # person_id in the index too: the batch run reads every block from the index alone.
        indexes = [models.Index(fields=["kind", "value", "person_id"], name="matchkey_block_idx")]

    def __str__(self):
        return f"{self.person_id} {self.kind}={self.value}"


class MatchProfile(models.Model):
    """A person in matching form (folded names, mailbox emails, E.164 phones, address keys), kept with the keys.

    One row per person, so that scoring reads one row instead of five tables; values of a field are
    joined by newlines (see kinfolk.identity.matching.Profile.to_row).
    """

    person_id = models.BigIntegerField(primary_key=True)
    given = models.CharField(max_length=150, blank=True)
    given_raw = models.CharField(max_length=150, blank=True)
    family = models.CharField(max_length=150, blank=True)
    birth_date = models.DateField(null=True, blank=True)
    country = models.CharField(max_length=2, blank=True)
    emails = models.TextField(blank=True)
    phones = models.TextField(blank=True)
    external_ids = models.TextField(blank=True)
    addresses = models.TextField(blank=True)
    localities = models.TextField(blank=True)

    def __str__(self):
        return f"{self.person_id}: {self.given} {self.family}"


def default_rules():
    """The strong default rule set: points per field outcome (log-odds-like) and how names and shared values count.

    agree: the field is the same (for emails, phones and addresses: a value only the two have);
    common: the same value, but more than `common_count` people have it; partial: similar names,
    the same postcode on another street, a birth date with day and month swapped.
    """
    return {
        "weights": {
            "email": {"agree": 9.0, "common": 1.0, "disagree": -1.5},
            "phone": {"agree": 7.5, "common": 1.0, "disagree": -1.0},
            # Two ids in one system do not say two people: systems hold duplicates too (that is why they merge).
            "external_id": {"agree": 12.0, "disagree": 0.0},
            "address": {"agree": 7.0, "common": 0.5, "partial": 1.5, "disagree": -1.5},
            "phone_and_address": {"agree": 1.5},
            "given_name": {"agree": 3.0, "partial": 1.5, "disagree": -5.0},
            "family_name": {"agree": 4.0, "partial": 2.5, "disagree": -4.0},
            "birth_date": {"agree": 5.0, "partial": 1.0, "disagree": -6.0},
            "locality": {"agree": 1.0, "disagree": -0.5},
            "country": {"agree": 0.0, "disagree": -2.0},
        },
        "name_similarity": 0.88,
        "frequency_scale": 0.5,
        "common_count": 100000,
        # Merges keep the value from the more trusted source (of the change that last set the field).
        "trusted_sources": ["ui", "api", "cli", "shell", "import", "job", "plugin"],
    }


class MatchRuleSet(models.Model):
    """Configurable matching rules: weights per field and thresholds for review and automatic merge."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    is_active = models.BooleanField(_("active"), default=False)
    rules = models.JSONField(_("rules"), default=default_rules)
    review_threshold = models.FloatField(_("score to suggest for review"), default=10.5)
    auto_merge_threshold = models.FloatField(
        _("score to merge automatically"),
        null=True,
        blank=True,
        help_text=_("Empty: never merge automatically."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.name

    # Changes are written to the audit trail by identity.services.do_update_rules (administrators only,
    # so the rule set stays out of the team access matrix of change-logged models).
    audit_exclude = ("updated_at",)

    def audit_subjects(self):
        return None, None, None


class DuplicateCandidate(models.Model):
    """A pair of people that may be the same person, with its score and the reasons, awaiting review."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        MERGED = "merged", _("merged")
        NOT_DUPLICATE = "not_duplicate", _("not the same person")

    # first_id < second_id always, so a pair is stored once.
    first_id = models.BigIntegerField()
    second_id = models.BigIntegerField(db_index=True)
    score = models.FloatField(db_index=True)
    reasons = models.JSONField(default=list)
    # [[field, outcome, detail], …] as kinfolk.identity.matching.explain reads them, to say it in any language
    findings = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    found_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["first_id", "second_id"], name="candidate_pair_unique")
        ]

    def __str__(self):
        return f"{self.first_id} ~ {self.second_id} ({self.score:.1f})"


class MergeRecord(models.Model):
    """A merge: which person was merged into which, by whom, every choice, and a snapshot to undo it."""

    merged_id = models.BigIntegerField(db_index=True)
    survivor_id = models.BigIntegerField(db_index=True)
    merged_at = models.DateTimeField(default=timezone.now)
    merged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True)
    choices = models.JSONField(default=dict)
    # {"rows": {model_label: {pk: {attname: value}}} before, "after": the survivor's values after}
    snapshot = models.JSONField(default=dict)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-merged_at", "-id"]

    def __str__(self):
        return f"{self.merged_id} → {self.survivor_id}"
