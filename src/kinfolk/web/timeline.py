"""Timeline lines as HTML, built in Python: a 200-item timeline is the person page's hot loop.

Every value goes through format_html (escaped); note text goes through nh3 (clean_html).
The template engine costs ~0.5 ms per item here, this ~20 µs.
"""

from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.formats import get_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _

from kinfolk.activities.models import Activity
from kinfolk.web.templatetags.kinfolk_ui import clean_html


class TimelineRenderer:
    """Renders the items of one page, with labels and formats looked up once."""

    def __init__(self, *, csrf_token, back_url):
        self.csrf_token = csrf_token
        self.back_url = back_url
        self.date_format = get_format("SHORT_DATETIME_FORMAT")
        self.day_format = get_format("SHORT_DATE_FORMAT")
        self.kinds = dict(Activity.Kind.choices)
        self.labels = {
            "done": _("done"),
            "mark_done": _("mark done"),
            "relationship": _("relationship"),
            "change": _("change"),
        }

    def when(self, moment):
        return format_html(
            '<time datetime="{}">{}</time>',
            moment.isoformat(),
            dateformat.format(timezone.localtime(moment), self.date_format),
        )

    def activity(self, a, *, organisation_page=False):
        badge = format_html(
            '<span class="badge{}">{}</span>',
            " warn" if a.kind == Activity.Kind.TASK else "",
            self.kinds.get(a.kind, a.kind),
        )
        status = ""
        if a.kind == Activity.Kind.TASK:
            if a.completed_at:
                status = format_html(' <span class="badge ok">{}</span>', self.labels["done"])
            elif a.due_at:
                due = dateformat.format(timezone.localtime(a.due_at), self.day_format)
                status = format_html(
                    ' <span class="muted small">{}</span>', _("due %(date)s") % {"date": due}
                )
        body = format_html('<div class="body">{}</div>', clean_html(a.body)) if a.body else ""
        author = ""
        if a.author_id and a.author:
            author = format_html(" · {}", a.author.get_full_name() or a.author.username)
        done = ""
        if a.kind == Activity.Kind.TASK and not a.completed_at and not organisation_page:
            done = format_html(
                '<form method="post" action="{}" class="inline"><input type="hidden" name="csrfmiddlewaretoken" value="{}">'
                '<input type="hidden" name="next" value="{}"><button type="submit" class="link small">{}</button></form>',
                reverse("web:activity_complete", args=[a.pk]),
                self.csrf_token,
                self.back_url,
                self.labels["mark_done"],
            )
        return format_html(
            '<div>{} <strong>{}</strong>{}</div>{}<div class="meta">{} · {}{} {}</div>',
            badge,
            a.subject,
            status,
            body,
            self.when(a.occurred_at),
            a.team.name,
            author,
            done,
        )

    def relationship(self, r):
        return format_html(
            '<div><span class="badge accent">{}</span> <a href="{}">{}</a> {} <a href="{}">{}</a></div>'
            '<div class="meta">{}</div>',
            self.labels["relationship"],
            reverse("web:person", args=[r.from_person_id]),
            r.from_person,
            r.type.forward_label,
            reverse("web:person", args=[r.to_person_id]),
            r.to_person,
            self.when(r.created_at),
        )

    def change(self, c):
        fields = ""
        if c.changes and c.action == "update":
            fields = format_html(": {}", format_html_join(", ", "<code>{}</code>", ((f,) for f in c.changes)))
        return format_html(
            '<div><span class="badge">{}</span> {} {} “{}”{}</div><div class="meta">{} · {} · {}</div>',
            self.labels["change"],
            str(c.get_action_display()).capitalize(),
            c.object_type.name,
            c.object_repr,
            fields,
            self.when(c.time),
            c.actor_label,
            c.source,
        )

    def item(self, item):
        if item.kind == "activity":
            return self.activity(item.obj)
        if item.kind == "relationship":
            return self.relationship(item.obj)
        return self.change(item.obj)
