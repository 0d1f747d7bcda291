"""Turn ids in a request body into records the actor may see; anything else is a field error, not a leak."""

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from kinfolk.api.filters import MAX_ID


def resolve(model, actor, value, field, *, required=True, queryset=None):
    """The visible `model` record with id `value`, None if allowed to be empty, else a ValidationError."""
    if value is None:
        if required:
            raise ValidationError({field: [_("This field is required.")]})
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise ValidationError({field: [_("%(value)r: expected the id of a record.") % {"value": value}]})
    rows = queryset if queryset is not None else model.objects.visible_to(actor)
    found = rows.filter(pk=value).first()
    if found is None:
        raise ValidationError(
            {field: [_("No %(kind)s with id %(id)d.") % {"kind": model._meta.verbose_name, "id": value}]}
        )
    return found


def token_team(actor):
    """The team a token works for (provenance of what it adds), or None for a browser session."""
    token = getattr(actor, "api_token", None)
    return token.team if token is not None and token.team_id else None
