"""The API's JSON parser: strings no database can store are a 400, not a 500 at save time."""

import re

from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _check(value, path="body"):
    if isinstance(value, str):
        if _UNSTORABLE.search(value):
            raise exceptions.ParseError(
                _("%(path)s: text may not contain NUL characters or unpaired UTF-16 surrogates.")
                % {"path": path}
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check(key, path)
            _check(item, f"{path}.{key}" if not _UNSTORABLE.search(key) else path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")


class StrictJSONParser(JSONParser):
    """JSON, refusing NUL characters and unpaired surrogates anywhere in keys or values."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check(data)
        return data
