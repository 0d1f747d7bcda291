"""The search index: one row per searchable record, with its text folded for matching."""

from django.db import models


class SearchEntry(models.Model):
    """A person, organisation or list as search sees it: what to show and what to match."""

    class Kind(models.TextChoices):
        PERSON = "person", "person"
        ORGANISATION = "organisation", "organisation"
        LIST = "list", "list"

    kind = models.CharField(max_length=16)
    object_id = models.BigIntegerField()
    title = models.CharField(max_length=300)
    subtitle = models.CharField(max_length=300, blank=True)
    # Lower-case ASCII text of names, emails, phone numbers ('müller' is also 'muller' and 'mueller').
    document = models.TextField()
    # The first letters of the folded title, for one- and two-letter type-ahead.
    title_key = models.CharField(max_length=100, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="search_entry_unique")]

    def __str__(self):
        return f"{self.kind} {self.object_id}: {self.title}"
