"""Normalisation of people data, shared by every channel: forms, API, imports, demo, matching.

Each function returns the clean value or raises ValidationError with a message that
names the value and says what was expected.
"""

import re
import unicodedata
import zoneinfo
from functools import cache, lru_cache

import phonenumbers
from anyascii import anyascii
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django_countries import countries
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH
from email_validator.syntax import validate_email_local_part
from nameparser import HumanName
from phonenumbers import PhoneMetadata
from phonenumbers import phonenumberutil as _pn
from phonenumbers.phonenumberutil import ValidationResult as _VR

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
    quick = _plain_phone(text, region)
    if quick is not None:
        return quick
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


# A plainly written number: ASCII digits and punctuation, at most one '+' and only in front; no
# letters (vanity numbers), extensions, RFC 3966 parameters or other digits and signs.
_PLAIN_PHONE = re.compile(r"\+?[0-9 ().\-/]+")
_PHONE_PUNCTUATION = b"+ ().-/"


def _plain_phone(text, region):
    """E.164 of a plainly written number as _phone's library calls give it, or None when not sure.

    Mirrors phonenumbers.parse, is_possible_number and is_valid_number for text of digits and
    the punctuation ' ().-/', read after one leading '+' or in a region phonenumbers supports:
    after '+' the first digits that name a country code are it; otherwise the region's code is
    used. The national prefix is then stripped by the rules of
    phonenumberutil._maybe_strip_national_prefix_carrier_code and parse, and the national number
    is tested as region_code_for_number, _number_type_helper and _test_number_length do, with each
    region's patterns compiled once. Anything else returns None and the library call decides and
    words the error: letters, extensions, an unknown region, an international dialling prefix
    (00...), a national number that begins with its own country code, and a national prefix that
    the region rewrites rather than drops (as Argentina and Brazil do).
    tests/identity/test_normalize_fast.py checks that both paths agree.
    """
    if len(text) > _pn._MAX_INPUT_STRING_LENGTH or not _PLAIN_PHONE.fullmatch(text):
        return None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        return None
    digits = text.encode("ascii").translate(None, _PHONE_PUNCTUATION).decode("ascii")
    if len(digits) <= _pn._MIN_LENGTH_FOR_NSN:
        return None
    if text[0] == "+":
        split = _split_country_code(digits)
        if split is None:
            return None
        country_code, number = split
        numbering = _numbering_of_code(country_code)
    elif region is None:
        return None
    else:
        numbering = _numbering(region)
        # parse reads a number that begins with an international prefix or with the region's own
        # country code in other ways: leave those to it.
        if numbering is None or numbering.international_prefix.match(digits):
            return None
        if digits.startswith(str(numbering.country_code)):
            return None
        country_code, number = numbering.country_code, digits
    if numbering is None:
        return None
    number = numbering.without_national_prefix(number)
    if number is None or not _pn._MIN_LENGTH_FOR_NSN <= len(number) <= _pn._MAX_LENGTH_FOR_NSN:
        return None
    if not _is_valid_phone(country_code, number):
        return None
    return f"+{country_code}{number}"


def _is_valid_phone(country_code, number):
    """is_possible_number and is_valid_number of +<country_code><number>, number being its NSN."""
    main = _numbering_of_code(country_code)
    if main is None or len(number) not in main.possible_lengths:
        return False
    for leading_digits, region in _regions_of_code(country_code):
        numbering = _numbering(region, country_code)
        if numbering is None:
            return False
        # is_valid_number_for_region then checks the region's code (always the same in practice)
        has_code = (
            region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY or numbering.country_code == country_code
        )
        if leading_digits is None:
            if numbering.has_type(number):
                return has_code
        elif leading_digits.match(number):
            return has_code and numbering.has_type(number)
    return False


class _Numbering:
    """One region's phonenumbers metadata, with what _plain_phone needs of it compiled once."""

    def __init__(self, metadata):
        self.country_code = metadata.country_code
        self.international_prefix = re.compile(
            "NonMatch" if metadata.international_prefix is None else metadata.international_prefix
        )
        prefix = metadata.national_prefix_for_parsing
        self.national_prefix = re.compile(prefix) if prefix else None
        self.rewrites_national_prefix = bool(metadata.national_prefix_transform_rule)
        self.general = _number_pattern(metadata.general_desc)
        # _test_number_length looks only at the length: tabulate it for every length an NSN can have.
        results = {n: _pn._test_number_length("0" * n, metadata) for n in range(_pn._MAX_LENGTH_FOR_NSN + 1)}
        unusable = (_VR.TOO_SHORT, _VR.IS_POSSIBLE_LOCAL_ONLY, _VR.INVALID_LENGTH)
        self.stripped_lengths = frozenset(n for n, result in results.items() if result not in unusable)
        self.possible_lengths = frozenset(
            n for n, result in results.items() if result in (_VR.IS_POSSIBLE, _VR.IS_POSSIBLE_LOCAL_ONLY)
        )
        # _number_type_helper gives a type when the number matches the general description and
        # one type's (the order it tries them in only decides which); it skips mobile when its
        # pattern is the fixed-line one.
        kinds = ["fixed_line", "mobile", "premium_rate", "toll_free", "shared_cost", "voip"]
        kinds += ["personal_number", "pager", "uan", "voicemail"]
        if metadata.same_mobile_and_fixed_line_pattern:
            kinds.remove("mobile")
        self.general_lengths = frozenset(metadata.general_desc.possible_length)
        self.any_type = _any_of([getattr(metadata, kind) for kind in kinds])

    def without_national_prefix(self, number):
        """The NSN parse keeps of number read with this metadata; None when the prefix is rewritten."""
        match = self.national_prefix.match(number) if self.national_prefix and number else None
        if match is None:
            return number
        groups = match.re.groups
        if self.rewrites_national_prefix and (not groups or match.group(groups) is not None):
            return None
        stripped = number[match.end() :]
        if self._is_viable(number) and not self._is_viable(stripped):
            return number
        return stripped if len(stripped) in self.stripped_lengths else number

    def has_type(self, number):
        """Whether _number_type_helper gives number a type other than UNKNOWN."""
        if self.any_type is None or (self.general_lengths and len(number) not in self.general_lengths):
            return False
        return self._is_viable(number) and self.any_type.fullmatch(number) is not None

    def _is_viable(self, number):
        return self.general is not None and self.general.fullmatch(number) is not None


def _any_of(descs):
    """One pattern matching the whole of a number that _is_number_matching_desc finds in any of descs."""
    alternatives = []
    for desc in descs:
        if desc is None or not desc.national_number_pattern:
            continue
        # Only a number of one of the possible lengths (if any are given) matches: a lookahead says so.
        lengths = [n for n in desc.possible_length if 0 < n <= _pn._MAX_LENGTH_FOR_NSN]
        if desc.possible_length and not lengths:
            continue
        only = f"(?=(?:{'|'.join(f'.{{{n}}}' for n in lengths)})\\Z)" if lengths else ""
        alternatives.append(f"{only}(?:{desc.national_number_pattern})")
    return re.compile("|".join(alternatives)) if alternatives else None


def _number_pattern(desc):
    pattern = desc.national_number_pattern if desc else None
    return re.compile(pattern) if pattern else None


@cache
def _numbering(region, country_code=None):
    """Compiled metadata of a region, or of a non-geographic code's region '001'; None if it has none."""
    if region != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY and country_code is not None:
        return _numbering(region)  # one per region, however it is asked for
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    return _Numbering(metadata) if metadata else None


@cache
def _numbering_of_code(country_code):
    """Compiled metadata of the code's main region: what parse and is_possible_number read with."""
    return _numbering(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code][0], country_code)


@cache
def _regions_of_code(country_code):
    """(leading digits or None, region) of the code's regions, as region_code_for_number tries them."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[country_code]
    if len(regions) == 1:
        return ((_ANY_DIGITS, regions[0].upper()),)
    return tuple(
        (re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None, region.upper())
        for region in regions
        if (metadata := PhoneMetadata.metadata_for_region(region.upper(), None)) is not None
    )


_ANY_DIGITS = re.compile("")


def national_digits(number):
    """The national significant number of a stored E.164 number ('+4915112345678' -> '15112345678').

    What `phonenumbers.parse(number).national_number` gives for a valid number, without parsing
    (country calling codes are prefix-free: the first 1-3 digits that name one are it); None when
    the text is not '+' and digits with a known country code.
    """
    digits = number[1:]
    if number[:1] != "+" or not digits.isascii() or not digits.isdigit():
        return None
    split = _split_country_code(digits)
    return split and (split[1].lstrip("0") or None)


def _split_country_code(digits):
    """(country calling code, the rest) of ASCII digits as phonenumbers reads them after a '+', or None.

    Codes never begin with 0 and are prefix-free, so the first 1-3 digits that name one are it.
    """
    for size in (1, 2, 3):
        code = _COUNTRY_CODES.get(digits[:size])
        if code is not None:
            return code, digits[size:]
    return None


_COUNTRY_CODES = {str(code): code for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}


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
