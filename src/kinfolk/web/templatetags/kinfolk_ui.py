"""Template helpers of the design system: sanitised notes, query strings, field errors, grouped numbers."""

import nh3
from django import template
from django.utils.formats import number_format
from django.utils.safestring import mark_safe

register = template.Library()

# Formatting a note may keep; everything else (scripts, styles, event handlers, iframes) goes.
NOTE_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "a", "blockquote", "code", "pre"}


@register.filter
def clean_html(value):
    """User-supplied HTML made safe to show: only simple formatting and links survive."""
    return mark_safe(  # noqa: S308 (nh3 has removed everything unsafe)
        nh3.clean(
            str(value or ""),
            tags=NOTE_TAGS,
            attributes={"a": {"href", "title"}},
            link_rel="noopener noreferrer nofollow",
        )
    )


@register.simple_tag(takes_context=True)
def query(context, **changes):
    """The current query string with some parameters replaced (None or '' removes them)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.filter
def errors_for(errors, name):
    """The messages for one field from a {field: [messages]} dict."""
    if not errors:
        return []
    return errors.get(name, [])


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def get_attr(obj, name):
    """An attribute named by the view (never by the user), for forms built from a list of fields."""
    return getattr(obj, str(name), "")


@register.filter
def number(value):
    """A count written the reader's way, digits grouped: 1,234,567 in English, 1.234.567 in German."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return number_format(value, force_grouping=True)
