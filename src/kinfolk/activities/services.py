"""The one way timeline activities change."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kinfolk.access.permissions import require_permission
from kinfolk.activities.models import Activity
from kinfolk.core.events import emit_on_commit
from kinfolk.core.services import do_create, do_delete, do_update
from kinfolk.core.validation import clean_values
from kinfolk.identity.normalize import clean_text

ACTIVITY_FIELDS = ("kind", "subject", "body", "occurred_at", "due_at", "completed_at")


def _values(data, instance=None):
    values = clean_values(
        Activity, data, allowed=ACTIVITY_FIELDS, instance=instance, normalizers={"subject": clean_text}
    )
    kind = values.get("kind", instance.kind if instance else Activity.Kind.NOTE)
    if kind != Activity.Kind.TASK and (values.get("due_at") or values.get("completed_at")):
        raise ValidationError({"due_at": [_("Only tasks have a due date or a completion time.")]})
    return values


def check_create_activity(*, team, data, actor, person=None, organisation=None, assignee=None):
    """Log a note, call, meeting, task or email about a person or organisation for a team."""
    if person is None and organisation is None:
        raise ValidationError({"person": [_("An activity is about a person or an organisation.")]})
    probe = Activity(team=team, person=person, organisation=organisation)
    require_permission(actor, "create", probe)
    if person is not None:
        require_permission(actor, "view", person)
    values = _values(data)
    if assignee is not None and not assignee.is_active:
        raise ValidationError(
            {
                "assignee": [
                    _("%(user)s cannot be assigned: the account is inactive.") % {"user": assignee.username}
                ]
            }
        )
    return do_create_activity(
        team=team,
        values={**values, "person": person, "organisation": organisation, "assignee": assignee},
        actor=actor,
    )


@transaction.atomic
def do_create_activity(*, team, values, actor):
    author = actor if getattr(actor, "pk", None) else None
    activity = do_create(Activity, values={**values, "team": team, "author": author}, actor=actor)
    emit_on_commit("activity.created", activity, actor=actor)
    return activity


def check_update_activity(activity, *, changes, actor):
    require_permission(actor, "change", activity)
    return do_update(
        activity, changes=_values(changes, instance=activity), actor=actor, event="activity.updated"
    )


def check_complete_task(activity, *, actor, done=True):
    require_permission(actor, "change", activity)
    if activity.kind != Activity.Kind.TASK:
        raise ValidationError({"kind": [_("Only tasks can be completed.")]})
    return do_update(
        activity,
        changes={"completed_at": timezone.now() if done else None},
        actor=actor,
        event="activity.updated",
    )


def check_delete_activity(activity, *, actor):
    require_permission(actor, "delete", activity)
    return do_delete(activity, actor=actor, event="activity.deleted")
