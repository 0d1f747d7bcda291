"""Validation of user input against a whitelist of model fields, with messages that name field, value and expectation."""

import datetime

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.translation import gettext as _


def _messages(exc):
    if hasattr(exc, "error_dict"):
        return [m for errs in exc.message_dict.values() for m in errs]
    return list(exc.messages)


def _show(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def clean_values(model, data, *, allowed, required=(), normalizers=None, instance=None, prefix=""):
    """Validate data (a client-supplied mapping) into {field: clean value}.

    Only names in `allowed` are accepted; each value goes through its normaliser or
    the model field's own validation. Raises one ValidationError keyed by field that
    lists every problem, so a user sees all of them at once.
    """
    normalizers = normalizers or {}
    if not isinstance(data, dict):
        raise ValidationError(
            {prefix.rstrip(".") or "data": [_("Expected an object of field names and values.")]}
        )
    errors = {}
    cleaned = {}
    for key in data:
        if key not in allowed:
            errors[f"{prefix}{key}"] = [
                _("Unknown field %(field)s; expected one of: %(fields)s.")
                % {"field": _show(key), "fields": ", ".join(sorted(allowed))}
            ]
    for name in allowed:
        if name not in data:
            continue
        value = data[name]
        try:
            if name in normalizers:
                cleaned[name] = normalizers[name](value)
            else:
                cleaned[name] = _clean_model_field(model, name, value, instance)
        except ValidationError as exc:
            errors[f"{prefix}{name}"] = [f"{_show(value)}: {m}" for m in _messages(exc)]
    for name in required:
        missing = f"{prefix}{name}" not in errors and cleaned.get(name) in (None, "", [], {})
        if missing and (instance is None or name in data):
            errors[f"{prefix}{name}"] = [_("This field is required.")]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_model_field(model, name, value, instance):
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:  # a service-level field with no normaliser is a programming error
        raise
    if isinstance(value, str):
        value = value.strip()
    if value in ("", None) and field.null and not field.empty_strings_allowed:
        return None
    if value is None and field.empty_strings_allowed and not field.null:
        value = ""
    cleaned = field.clean(value, instance)
    if isinstance(cleaned, datetime.datetime) and cleaned.tzinfo is not None:
        # Stored in UTC: PostgreSQL refuses offsets beyond ±15:59, which Python parses happily.
        try:
            cleaned = cleaned.astimezone(datetime.UTC)
        except OverflowError as exc:
            raise ValidationError(_("This date-time is out of range.")) from exc
    return cleaned


def merge_errors(*errors_list):
    """Combine several ValidationErrors (or None) into one keyed by field, or None if there are none."""
    merged = {}
    for exc in errors_list:
        if exc is None:
            continue
        for key, messages in exc.message_dict.items():
            merged.setdefault(key, []).extend(messages)
    return ValidationError(merged) if merged else None
