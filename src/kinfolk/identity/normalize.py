"""Normalisation of people data, shared by every channel: forms, API, imports, demo, matching.

Each function returns the clean value or raises ValidationError with a message that
names the value and says what was expected.
"""

import re
import unicodedata
import zoneinfo
from functools import lru_cache

import phonenumbers
from anyascii import anyascii
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django_countries import countries
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH
from email_validator.syntax import validate_email_local_part
from nameparser import HumanName

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_SPACES = re.compile(r"\s+")


def clean_text(value):
    """Collapse runs of white space and remove control characters; NFC so 'é' is one character."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(_("Expected text."))
    # Every character of category C (control, format, unassigned…) is unprintable: a printable text
    # has none to remove, and most texts are already NFC, which is quicker to test than to make.
    if not value.isprintable():
        value = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C" or ch in " \t\n")
    if not value.isascii() and not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    return _SPACES.sub(" ", value).strip()


CACHE_SIZE = 20_000  # distinct values each cache keeps per process: ~4 MB each, whatever the file size


def normalize_email(value):
    """(email as given but tidied, lower-cased form for matching); raises ValidationError if invalid."""
    text = clean_text(value)
    if not text:
        raise ValidationError(_("An email address is required, like name@example.org."))
    normalized = _plain_email(text) or _email(text)
    return normalized, normalized.lower()


@lru_cache(maxsize=CACHE_SIZE)
def _email(text):
    """email-validator's normalised form of text; only results are cached, errors are raised each time."""
    try:
        return validate_email(text, check_deliverability=False, allow_smtputf8=True).normalized
    except EmailNotValidError as exc:
        raise ValidationError(
            _("Not a valid email address (%(reason)s); expected something like name@example.org.")
            % {"reason": str(exc).rstrip(".")}
        ) from exc


_PLAIN_EMAIL = re.compile(r"([^@\"<]+)@([A-Za-z0-9.-]+)\Z")
_LOCAL_IN_ANY_CASE = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def _plain_email(text):
    """The normalised form of a plain address (dot-atom@ASCII host) as email-validator gives it, or None.

    email-validator splits such an address at its one @-sign, checks the part before it
    (validate_email_local_part, used here as it is), normalises the domain on its own and checks
    the lengths. Its verdict on a domain is cached, so that the thousands of addresses of one
    domain cost no IDNA work each. Anything else (quotes, display names, a local part that NFC
    would change, an error) returns None: the whole library call then decides and words the error.
    tests/identity/test_normalize_fast.py checks that both paths agree.
    """
    match = _PLAIN_EMAIL.match(text)
    if match is None:
        return None
    local, host = match.groups()
    if DOT_ATOM_TEXT.match(local):
        ascii_local = local  # what validate_email_local_part returns for it, without its other checks
    elif local.isascii() or not unicodedata.is_normalized("NFC", local):
        return None
    else:
        try:
            checked = validate_email_local_part(local, allow_smtputf8=True, quoted_local_part=False)
        except EmailNotValidError:
            return None
        local, ascii_local = checked["local_part"], checked["ascii_local_part"]
    try:
        domain, ascii_domain = _email_domain(host)
    except ValidationError:
        return None
    if ascii_local is not None and ascii_local.lower() in _LOCAL_IN_ANY_CASE:
        local = local.lower()
    normalized = f"{local}@{domain}"
    for form in (text, normalized, f"{local}@{ascii_domain}"):
        if len(form.encode()) > EMAIL_MAX_LENGTH:
            return None
    return normalized


@lru_cache(maxsize=CACHE_SIZE)
def _email_domain(host):
    """(domain, its IDNA ASCII form) as email-validator normalises the part after the @-sign."""
    try:
        result = validate_email(f"a@{host}", check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError as exc:
        raise ValidationError(str(exc)) from exc
    return result.domain, result.ascii_domain


def normalize_phone(value, region=None):
    """The phone number in E.164 (+442079460958); national numbers need a region (country code)."""
    text = clean_text(value)
    if not text:
        raise ValidationError(_("A phone number is required."))
    return _phone(text, (region or "").upper() or None)


@lru_cache(maxsize=CACHE_SIZE)
def _phone(text, region):
    """E.164 of text read in region; only results are cached, errors are raised each time."""
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and not region:
            raise ValidationError(
                _(
                    "Not an international number, and no country is known to read it; "
                    "expected +<country code> <number>, like +44 20 7946 0958."
                )
            ) from exc
        raise ValidationError(_("Not a phone number; expected digits like +44 20 7946 0958.")) from exc
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            _("Not a valid number for %(region)s; expected a number like %(example)s.")
            % {
                "region": phonenumbers.region_code_for_number(parsed) or region or _("any country"),
                "example": _example(phonenumbers.region_code_for_number(parsed) or region),
            }
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def national_digits(number):
    """The national significant number of a stored E.164 number ('+4915112345678' -> '15112345678').

    What `phonenumbers.parse(number).national_number` gives for a valid number, without parsing
    (country calling codes are prefix-free: the first 1-3 digits that name one are it); None when
    the text is not '+' and digits with a known country code.
    """
    digits = number[1:]
    if number[:1] != "+" or not digits.isascii() or not digits.isdigit():
        return None
    for size in (1, 2, 3):
        if int(digits[:size]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[size:].lstrip("0") or None
    return None


def _example(region):
    example = phonenumbers.example_number(region) if region else None
    if example is None:
        return "+44 20 7946 0958"
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@lru_cache(maxsize=4096)
def _country_lookup(text):
    code = countries.alpha2(text)
    if code:
        return code
    code = countries.by_name(text, insensitive=True)
    return code or None


def normalize_country(value):
    """ISO 3166-1 alpha-2 code from a code (DE, DEU, 276) or an English name (Germany); '' stays ''."""
    text = clean_text(value if not hasattr(value, "code") else value.code)
    if not text:
        return ""
    code = _country_lookup(text)
    if not code:
        raise ValidationError(
            _("Not a known country; expected an ISO 3166 code like DE or a name like Germany.")
        )
    return code


def normalize_language(value):
    """A BCP 47 language tag with the usual case: 'EN-gb' -> 'en-GB'."""
    text = clean_text(value)
    if not text:
        return ""
    if not _LANGUAGE.match(text):
        raise ValidationError(_("Not a language tag; expected a BCP 47 tag like en, de-CH or pt-BR."))
    first, *rest = text.split("-")
    parts = [first.lower()] + [
        p.upper() if len(p) == 2 else p.title() if len(p) == 4 else p.lower() for p in rest
    ]
    return "-".join(parts)


@lru_cache(maxsize=1)
def _time_zones():
    return frozenset(zoneinfo.available_timezones())


def normalize_time_zone(value):
    """An IANA time zone name (Europe/Berlin); '' stays ''."""
    text = clean_text(value)
    if not text:
        return ""
    if text not in _time_zones():
        raise ValidationError(_("Not a known time zone; expected an IANA name like Europe/Berlin."))
    return text


def split_name(full_name):
    """Split a full name into prefix, given, middle, family, suffix with nameparser."""
    name = HumanName(clean_text(full_name))
    return {
        "prefix": name.title,
        "given_name": name.first,
        "middle_name": name.middle,
        "family_name": name.last,
        "suffix": name.suffix,
    }


def name_key(text):
    """Lower-case ASCII form of a name for matching and search: 'Müller' -> 'muller'."""
    # Cached by text: imports, search and matching fold the same names again and again.
    return _name_key(text if isinstance(text, str) else clean_text(text))


@lru_cache(maxsize=CACHE_SIZE)
def _name_key(text):
    return _SPACES.sub(" ", anyascii(clean_text(text)).lower()).strip()
