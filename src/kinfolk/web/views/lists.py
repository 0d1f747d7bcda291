"""The People and Organisations lists: filters, sort, columns, saved views, bulk actions."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from kinfolk.access.models import Team
from kinfolk.access.scoping import writable_team_ids
from kinfolk.imports.exports import EXPORT_FORMATS, export
from kinfolk.people.models import List, Organisation, Person, Tag
from kinfolk.people.services import check_add_to_list, check_tag
from kinfolk.web.lists import LISTS, to_querystring
from kinfolk.web.models import SavedView
from kinfolk.web.services import check_delete_view, check_save_view
from kinfolk.web.views.common import as_id, error_dict, posted_id, safe_next, visible_or_404

BULK_LIMIT = 500  # people per bulk action from one page (a page holds 50; select-all-matching is not offered)


def _list_page(request, kind):
    definition = LISTS[kind]
    actor = request.user
    params = request.GET
    view = None
    if params.get("view"):
        view = SavedView.objects.visible_to(actor).filter(pk=as_id(params.get("view")), kind=kind).first()
        if view is None:
            raise Http404
        if len(params) == 1:  # only ?view=: show the view's own filters
            params = QueryDict(mutable=True)
            for key, value in view.params.items():
                params.setlist(key, value if isinstance(value, list) else [str(value)])
    cleaned, errors = definition.clean_params(params, actor)
    page = definition.page(actor, cleaned, cursor=request.GET.get("cursor"))
    tags = Tag.objects.visible_to(actor).select_related("team").order_by("name")
    context = {
        "kind": kind,
        "definition": definition,
        "page": page,
        "cleaned": cleaned,
        "errors": errors,
        "filters": {k: (v.pk if hasattr(v, "pk") else v) for k, v in cleaned.items()},
        "columns": [(name, definition.columns[name]) for name in cleaned["columns"]],
        "all_columns": list(definition.columns.items()),
        "sorts": definition.sorts,
        "querystring": to_querystring(cleaned),
        "saved_views": SavedView.objects.visible_to(actor).filter(kind=kind).select_related("team", "owner"),
        "current_view": view,
        "tags": tags,
        "my_teams": Team.objects.filter(pk__in=writable_team_ids(actor)).order_by("name"),
        "export_formats": EXPORT_FORMATS,
    }
    if kind == "people":
        context.update(
            lists=List.objects.visible_to(actor).select_related("team").order_by("name"),
            teams=Team.objects.order_by("name"),
            writable_lists=List.objects.filter(team_id__in=writable_team_ids(actor)).select_related("team"),
            chosen_organisation=cleaned.get("organisation"),
        )
    else:
        context.update(org_kinds=Organisation.Kind.choices, chosen_parent=cleaned.get("parent"))
    template = (
        "web/partials/list_table.html" if request.htmx and request.htmx.target == "list-results" else None
    )
    return render(request, template or f"web/{kind}.html", context)


@login_required
def people(request):
    return _list_page(request, "people")


@login_required
def organisations(request):
    return _list_page(request, "organisations")


@login_required
@require_POST
def save_view(request, kind):
    """Save the list's current filters as a view for me, or for one of my teams."""
    if kind not in LISTS:
        raise Http404
    params = QueryDict(request.POST.get("querystring", ""))
    team = None
    if request.POST.get("team"):
        team = Team.objects.filter(pk=posted_id(request, "team")).first()
        if team is None:
            messages.error(request, _("No team with id %(id)s.") % {"id": request.POST.get("team")})
            return redirect(reverse(f"web:{kind}") + "?" + params.urlencode())
    try:
        view = check_save_view(
            kind=kind, name=request.POST.get("name", ""), params=params, team=team, actor=request.user
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(m for ms in error_dict(exc).values() for m in ms))
        return redirect(reverse(f"web:{kind}") + "?" + params.urlencode())
    messages.success(request, _("View “%(name)s” saved.") % {"name": view.name})
    return redirect(reverse(f"web:{kind}") + f"?view={view.pk}")


@login_required
@require_POST
def delete_view(request, pk):
    view = visible_or_404(SavedView, request.user, pk)
    try:
        check_delete_view(view, actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("View “%(name)s” deleted.") % {"name": view.name})
    return redirect(reverse(f"web:{view.kind}"))


def _chosen(request, model):
    ids = [pk for pk in map(as_id, request.POST.getlist("ids")) if pk][:BULK_LIMIT]
    return list(model.objects.visible_to(request.user).filter(pk__in=ids).order_by("pk"))


@login_required
@require_POST
def people_bulk(request):
    """Tag, add to a list, export or start a merge of the chosen people; each change goes through its service."""
    return _bulk(request, "people")


def _bulk_done(action, kind, count):
    """The message after a bulk action changed `count` records (each language has its own plural)."""
    if action == "list":
        return ngettext(
            "Added %(count)d person to “%(name)s”.", "Added %(count)d people to “%(name)s”.", count
        )
    if kind == "people":
        return ngettext(
            "Tagged %(count)d person with “%(name)s”.", "Tagged %(count)d people with “%(name)s”.", count
        )
    return ngettext(
        "Tagged %(count)d organisation with “%(name)s”.",
        "Tagged %(count)d organisations with “%(name)s”.",
        count,
    )


@login_required
@require_POST
def organisations_bulk(request):
    """Tag or export the chosen organisations."""
    return _bulk(request, "organisations")


def _bulk(request, kind):
    model = Person if kind == "people" else Organisation
    back = safe_next(request, reverse(f"web:{kind}"))
    chosen = _chosen(request, model)
    action = request.POST.get("action", "")
    if not chosen:
        messages.error(
            request, _("Choose at least one person first.") if kind == "people" else _("Choose at least one organisation first.")
        )  # fmt: skip
        return redirect(back)
    actor = request.user
    if action == "merge" and kind == "people":
        if len(chosen) != 2:
            messages.error(request, _("Choose exactly two people to merge."))
            return redirect(back)
        return redirect("web:duplicate_pair", first=chosen[0].pk, second=chosen[1].pk)
    if action == "export":
        fmt = request.POST.get("format", "csv")
        try:
            content_type, name, chunks = export(
                actor, kind=kind, fmt=fmt, filters={"ids": [o.pk for o in chosen]}
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect(back)
        response = StreamingHttpResponse(chunks, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    if action == "tag":
        target = Tag.objects.visible_to(actor).filter(pk=posted_id(request, "tag")).first()
        team = Team.objects.filter(pk=posted_id(request, "team")).first()
        apply = lambda record: check_tag(record, target, team=team, actor=actor)  # noqa: E731
    elif action == "list" and kind == "people":
        target = List.objects.visible_to(actor).filter(pk=posted_id(request, "list")).first()
        apply = lambda person: check_add_to_list(target, person, actor=actor)  # noqa: E731
    else:
        messages.error(request, _("Choose what to do with the chosen rows."))
        return redirect(back)
    if target is None:
        messages.error(request, _("Choose a tag or a list first."))
        return redirect(back)
    failures = []
    for record in chosen:
        try:
            apply(record)
        except (ValidationError, PermissionDenied) as exc:
            failures.append(f"{record}: {' '.join(m for ms in error_dict(exc).values() for m in ms)}")
    done_count = len(chosen) - len(failures)
    if done_count:
        messages.success(
            request, _bulk_done(action, kind, done_count) % {"count": done_count, "name": target.name}
        )
    if failures:
        messages.error(
            request,
            ngettext(
                "%(count)d record was not changed: %(why)s",
                "%(count)d records were not changed: %(why)s",
                len(failures),
            )
            % {"count": len(failures), "why": "; ".join(failures[:5])},
        )
    return redirect(back)
