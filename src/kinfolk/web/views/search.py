"""Global search: type-ahead results for the search box, and a full results page without JavaScript."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from kinfolk.search import search as run_search

KIND_LABELS = {"person": _("Person"), "organisation": _("Organisation"), "list": _("List")}


def result_url(result):
    if result.kind == "person":
        return reverse("web:person", args=[result.object_id])
    if result.kind == "organisation":
        return reverse("web:organisation", args=[result.object_id])
    return reverse("web:people") + f"?list={result.object_id}"


@login_required
def search(request):
    query = (request.GET.get("q") or "").strip()[:100]
    kinds = [k for k in request.GET.getlist("kind") if k in KIND_LABELS] or None
    limit = 8 if request.htmx else 50
    results = [
        {
            "kind": r.kind,
            "kind_label": KIND_LABELS[r.kind],
            "title": r.title,
            "subtitle": r.subtitle,
            "url": result_url(r),
            "id": r.object_id,
        }
        for r in (run_search(request.user, query, limit=limit, kinds=kinds) if query else [])
    ]
    # A picker (relationship, affiliation forms) names its radio buttons after what it picks.
    pick_name = "organisation" if request.GET.get("pick") == "organisation" else "other"
    context = {"results": results, "query": query, "search_query": query, "pick_name": pick_name}
    if request.htmx:
        pick = request.GET.get("template") == "pick"
        template = "web/partials/person_pick.html" if pick else "web/partials/search_results.html"
        return render(request, template, context)
    return render(request, "web/search.html", context)
