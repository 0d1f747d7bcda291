"""Home: my open tasks, my teams' recent activity, the people I follow, my recent imports and jobs."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone

from kinfolk.access.models import Team
from kinfolk.activities.models import Activity
from kinfolk.core.models import Job
from kinfolk.web.models import Follow


@login_required
def home(request):
    actor = request.user
    if actor.is_org_admin and not Team.objects.exists():
        return redirect("web:setup")  # a new organisation starts by creating its teams
    activities = Activity.objects.visible_to(actor).select_related("person", "organisation", "team", "author")
    tasks = activities.filter(kind=Activity.Kind.TASK, assignee=actor, completed_at__isnull=True).order_by(
        "due_at", "id"
    )[:20]
    recent = activities.filter(team_id__in=actor.team_ids).order_by("-occurred_at", "-id")[:15]
    follows = Follow.objects.visible_to(actor).select_related("person").order_by("person__display_name")[:50]
    jobs = Job.objects.visible_to(actor).order_by("-created_at", "-id")[:6]
    return render(
        request,
        "web/home.html",
        {
            "tasks": tasks,
            "recent": recent,
            "follows": follows,
            "jobs": jobs,
            "now": timezone.now(),
        },
    )
