"""Activity services: validation and audit of a team's timeline entries."""

import pytest
from django.core.exceptions import ValidationError

from kinfolk.activities import services as acts
from kinfolk.activities.models import Activity
from kinfolk.core.models import ChangeRecord
from tests.conftest import make_person, make_team, make_user

pytestmark = pytest.mark.django_db


def test_note_with_due_date_is_refused_and_nothing_written():
    team = make_team("Events")
    member = make_user("m", teams=[(team, "member")])
    person = make_person()
    count = ChangeRecord.objects.count()
    with pytest.raises(ValidationError) as info:
        acts.check_create_activity(
            team=team, person=person, data={"subject": "Hi", "due_at": "2030-01-01T10:00:00Z"}, actor=member
        )
    assert list(info.value.message_dict) == ["due_at"]
    assert (Activity.objects.count(), ChangeRecord.objects.count()) == (0, count)


def test_task_completion_is_recorded():
    team = make_team("Events")
    member = make_user("m", teams=[(team, "member")])
    task = acts.check_create_activity(team=team, person=make_person(), data={"kind": "task"}, actor=member)
    acts.check_complete_task(task, actor=member)
    record = ChangeRecord.objects.for_object(task).last()
    assert (record.action, list(record.changes)) == ("update", ["completed_at"])
    assert record.team_id == team.pk
