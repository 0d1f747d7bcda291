"""The quick paths of normalisation give exactly what the slow ones (and the libraries) give."""

import random
import string
import sys
import unicodedata
from functools import cache

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kinfolk.identity import normalize as norm


def _clean_text_reference(value):
    """clean_text as it was written before its quick path: filter every character, then NFC."""
    value = "".join(ch for ch in value if unicodedata.category(ch)[0] != "C" or ch in " \t\n")
    return norm._SPACES.sub(" ", unicodedata.normalize("NFC", value)).strip()


def test_every_character_clean_text_removes_is_unprintable():
    # The quick path skips the filter for printable text: that is exact only if this holds.
    removed = (chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] == "C")
    assert [hex(ord(ch)) for ch in removed if ch.isprintable()] == []


@settings(max_examples=500)
@given(st.text())
@example("  Zoë\u200b  Müller\t\n")
@example("e\u0301cole \x00x")
@example("\u212b")  # Angstrom sign: not NFC
def test_clean_text_agrees_with_the_reference(text):
    assert norm.clean_text(text) == _clean_text_reference(text)


def _library(text):
    try:
        return validate_email(text, check_deliverability=False, allow_smtputf8=True).normalized
    except EmailNotValidError:
        return None


EMAILS = [
    "Ada.Lovelace@Example.ORG",
    "ADA.LOVELACE.17@EXAMPLE.ORG",
    "Postmaster@example.org",
    "INFO@Example.org",
    "a..b@example.org",
    ".a@example.org",
    "a.@example.org",
    "a@localhost",
    "a@example",
    "a@example.local",
    "a@example.test",
    "a@example.invalid",
    "a@123.456",
    "a@-example.org",
    "a@example-.org",
    "a@ex--ample.org",
    "a@xn--mller-kva.de",
    "a@xn--zz.de",
    "a@XN--MLLER-KVA.DE",
    "a@example..org",
    "a@.example.org",
    "a@example.org.",
    "o'brien+news@example.org",
    "{x}|~^`!#$%&*/=?_-@example.org",
    "x" * 64 + "@example.org",
    "x" * 65 + "@example.org",
    "x" * 240 + "@example.org",
    "x" * 244 + "@example.org",
    "a@" + "b" * 63 + ".org",
    "a@" + "b" * 64 + ".org",
    "a@" + ".".join(["c" * 60] * 4) + ".org",
    "a@1.2.3.4",
    "a@example.c0m",
    "Jürgen.Müller.3@example.org",
    "JÜRGEN.MÜLLER.3@EXAMPLE.ORG",
    "Zoe\u0308@example.org",
    "\u0308x@example.org",
    "ab\u200bc@example.org",
    "ab\u00a0c@example.org",
    "é" * 130 + "@example.org",
    "Ĳ@example.org",
    "Ω@example.org",
    "a@example.123",
]


@pytest.mark.parametrize("text", EMAILS)
def test_plain_email_agrees_with_email_validator_on_a_corpus(text):
    quick = norm._plain_email(text)
    assert quick is None or quick == _library(text)
    assert _result(norm.normalize_email, text) == _library(norm.clean_text(text))


def _result(func, *args):
    try:
        value = func(*args)
    except ValidationError:
        return None
    return value[0] if isinstance(value, tuple) else value


_LOCAL = string.ascii_letters + string.digits + ".!#$%&'*+/=?^_`{|}~-\"() <>,;:\\@éÜß\u0308\u200b\u00a0Ω"
_HOST = string.ascii_letters + string.digits + ".-_é"


@settings(max_examples=1500)
@given(
    st.text(alphabet=_LOCAL, min_size=0, max_size=70),
    st.lists(st.text(alphabet=_HOST, min_size=0, max_size=20), min_size=1, max_size=4),
    st.sampled_from(["org", "ORG", "de", "c0m", "123", "local", "xn--p1ai", "x", ""]),
)
def test_plain_email_agrees_with_email_validator(local, labels, tld):
    text = f"{local}@{'.'.join([*labels, tld])}"
    quick = norm._plain_email(text)
    if quick is not None:
        assert quick == _library(text)
    assert _result(norm.normalize_email, text) == _library(norm.clean_text(text) or "-")


def test_an_invalid_value_is_reported_every_time_not_cached():
    for _ in range(2):
        with pytest.raises(ValidationError, match="phone number"):
            norm.normalize_phone("+49 1", "DE")
        with pytest.raises(ValidationError, match="must have an @-sign"):
            norm.normalize_email("ada at example.org")


def test_a_cached_phone_is_read_with_its_own_region():
    assert norm.normalize_phone("020 7946 0958", "GB") == "+442079460958"
    assert norm.normalize_phone("0151 12345678", "de") == "+4915112345678"
    with pytest.raises(ValidationError):
        norm.normalize_phone("020 7946 0958", "US")


@given(st.text())
@example(None)
def test_name_key_cached_agrees_with_the_plain_fold(text):
    from anyascii import anyascii

    expected = norm._SPACES.sub(" ", anyascii(_clean_text_reference(text or "")).lower()).strip()
    assert norm.name_key(text) == expected
    assert norm.name_key(text) == expected  # the second time from the cache


@cache
def _example_numbers():
    """(region, number) of each region's example numbers of every type; None for non-geographic codes."""
    kinds = [v for k, v in vars(phonenumbers.PhoneNumberType).items() if k.isupper()]
    examples = [
        (region, phonenumbers.example_number_for_type(region, kind))
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in kinds
    ]
    examples += [
        (None, phonenumbers.example_number_for_non_geo_entity(code))
        for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS)
    ]
    return [(region, number) for region, number in examples if number]


def _every_example_number():
    """Each region's and non-geographic code's example numbers of every type, in E.164."""
    e164 = phonenumbers.PhoneNumberFormat.E164
    return sorted({phonenumbers.format_number(number, e164) for _, number in _example_numbers()})


def test_national_digits_agree_with_phonenumbers_for_every_example_number():
    numbers = _every_example_number() + ["+390612345678", "+4915112345678", "+12015550123"]
    assert len(numbers) > 1000
    disagree = [
        (n, norm.national_digits(n))
        for n in numbers
        if norm.national_digits(n) != str(phonenumbers.parse(n).national_number)
    ]
    assert disagree == []


@pytest.mark.parametrize("text", ["", "+", "49151", "+0049151", "+999123", "+49", "+49 151", "+٤٩١٥١"])
def test_national_digits_is_none_for_what_is_not_stored_e164(text):
    assert norm.national_digits(text) is None


def _phone_reference(text, region):
    """_phone as it was written before its quick path: phonenumbers parses, validates and formats."""
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE and not region:
            raise ValidationError(
                gettext(
                    "Not an international number, and no country is known to read it; "
                    "expected +<country code> <number>, like +44 20 7946 0958."
                )
            ) from exc
        raise ValidationError(gettext("Not a phone number; expected digits like +44 20 7946 0958.")) from exc
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise ValidationError(
            gettext("Not a valid number for %(region)s; expected a number like %(example)s.")
            % {
                "region": phonenumbers.region_code_for_number(parsed) or region or gettext("any country"),
                "example": norm._example(phonenumbers.region_code_for_number(parsed) or region),
            }
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _outcome(func, *args):
    """The value func returns, or the messages of the ValidationError it raises."""
    try:
        return func(*args)
    except ValidationError as exc:
        return exc.messages


def _disagreement(text, region):
    """None when the quick path and the whole of _phone agree with the reference; else what each gave."""
    expected = _outcome(_phone_reference, text, region)
    quick = norm._plain_phone(text, region)
    whole = _outcome(norm._phone.__wrapped__, text, region)
    if (quick is None or quick == expected) and whole == expected:
        return None
    return (text, region, quick, whole, expected)


_FORMATS = [
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.RFC3966,
]
_REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
_PUNCTUATION = " ().-/"


def _written(number, kind):
    """The number as people write it in one of the library's formats (RFC 3966 without 'tel:')."""
    return phonenumbers.format_number(number, kind).removeprefix("tel:")


def _scatter(text, rng):
    """text with punctuation and spaces inserted at random places."""
    return "".join(ch + (rng.choice(_PUNCTUATION) if rng.random() < 0.25 else "") for ch in text)


@pytest.mark.parametrize("region", [*_REGIONS, None])
def test_plain_phone_agrees_with_phonenumbers_on_every_example_number(region):
    # Given each example number of the region (None: of the non-geographic codes), written in every
    # format, plain and with punctuation
    rng = random.Random(str(region))
    other = _REGIONS[(_REGIONS.index(region) + 1) % len(_REGIONS)] if region else "DE"
    texts = [
        _written(number, kind) for own, number in _example_numbers() if own == region for kind in _FORMATS
    ]
    texts += [_scatter(text, rng) for text in texts]
    # When each is read in its region, another region and none, Then both paths agree
    disagree = [_disagreement(text, r) for text in texts for r in (region, other, None)]
    assert [d for d in disagree if d] == []


def test_plain_phone_reads_every_example_number_written_internationally():
    # The quick path is worth having only if it takes these: a slow path taking over shows here.
    missed = [
        (text, region)
        for region, number in _example_numbers()
        for kind in (phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        if norm._plain_phone(text := _written(number, kind), region) is None
    ]
    assert missed == []


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+49 151 12345678", "DE", "+4915112345678"),
        ("015112345678", "DE", "+4915112345678"),
        ("+4915112345678", "DE", "+4915112345678"),
        ("(0151) 12345678", "DE", "+4915112345678"),
        ("0151-1234 5678", "DE", "+4915112345678"),
        ("0151/12345678", "DE", "+4915112345678"),
        ("030 1234567", "DE", "+49301234567"),
        ("+44 20 7946 0958", "DE", "+442079460958"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("201.555.0123", "US", "+12015550123"),
        ("+1 201-555-0123", None, "+12015550123"),
        ("+1 613 555 0123", "DE", "+16135550123"),
    ],
)
def test_plain_phone_reads_the_common_shapes(text, region, expected):
    assert norm._plain_phone(text, region) == expected
    assert _phone_reference(text, region) == expected


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("(555) 123-4567", "US"),  # 555 is no US area code: the library words the error
        ("0049 151 12345678", "DE"),  # international dialling prefix
        ("4915112345678", "DE"),  # begins with the region's own country code
        ("+49 151 12345678 ext. 12", "DE"),
        ("1-800-FLOWERS", "US"),
        ("015112345678", None),
        ("015112345678", "XX"),
        ("+0151 12345678", "DE"),
        ("(+49) 151 12345678", "DE"),
        ("+49 15", "DE"),
        ("\uff10\uff11\uff15\uff11 12345678", "DE"),  # full-width digits
    ],
)
def test_plain_phone_leaves_other_shapes_to_the_library(text, region):
    assert norm._plain_phone(text, region) is None
    assert _outcome(norm._phone.__wrapped__, text, region) == _outcome(_phone_reference, text, region)


_REGION = st.one_of(st.none(), st.sampled_from(_REGIONS), st.sampled_from(["ZZ", "001", "XX", "UK"]))


@st.composite
def _mutated_example(draw):
    """An example number written in some format, with one to three digits changed, inserted or deleted."""
    region, number = draw(st.sampled_from(_example_numbers()))
    text = _written(number, draw(st.sampled_from(_FORMATS)))
    for _step in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["change", "insert", "delete"]))
        digit = draw(st.sampled_from("0123456789"))
        digits_at = [i for i, ch in enumerate(text) if ch.isdigit()]
        if how == "insert":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + digit + text[i:]
        elif digits_at:
            i = draw(st.sampled_from(digits_at))
            text = text[:i] + (digit if how == "change" else "") + text[i + 1 :]
    return text, draw(st.one_of(st.just(region), _REGION))


@settings(max_examples=500, deadline=None)
@given(_mutated_example())
@example(("+49 151 1234567", "DE"))
@example(("0151 1234567", "DE"))
@example(("+1 310 555 0123", None))  # +1: region_code_for_number tries each NANPA region
@example(("+44 7624 123456", None))  # +44: the Isle of Man, not GB
@example(("+7 701 234 5678", None))  # +7: Kazakhstan, not Russia
@example(("+39 06 1234 5678", None))  # Italy keeps its leading zero
@example(("11 2345-6789", "AR"))
@example(("0 11 15-2345-6789", "AR"))  # Argentina rewrites its national prefix
def test_plain_phone_agrees_with_phonenumbers_on_mutated_example_numbers(case):
    assert _disagreement(*case) is None


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from(["", "+", "+", "0", "00"]),
    st.text(alphabet=st.sampled_from([*"0123456789" * 4, *_PUNCTUATION, "+", "x", "#", ";", "A", "\u0664"])),
    _REGION,
)
@example("+", "800 1234 5678", None)
@example("", "8 912 345-67-89", "RU")
@example("", "03-1234-5678", "JP")
def test_plain_phone_agrees_with_phonenumbers_on_random_text(start, rest, region):
    assert _disagreement(start + rest, region) is None


@st.composite
def _example_with_new_ending(draw):
    """An example number written in some format, with its last one to seven digits drawn anew."""
    region, number = draw(st.sampled_from(_example_numbers()))
    chars = list(_written(number, draw(st.sampled_from(_FORMATS))))
    digits_at = [i for i, ch in enumerate(chars) if ch.isdigit()]
    for i in digits_at[-draw(st.integers(1, 7)) :]:
        chars[i] = draw(st.sampled_from("0123456789"))
    return "".join(chars), draw(st.one_of(st.just(region), _REGION))


@settings(max_examples=500, deadline=None)
@given(_example_with_new_ending())
def test_plain_phone_agrees_with_phonenumbers_on_example_numbers_with_new_endings(case):
    # Most of these are valid numbers too: the quick path's reading of valid numbers is what they test.
    assert _disagreement(*case) is None


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from(sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)),
    st.text(alphabet="0123456789", min_size=2, max_size=16),
    st.sampled_from(["+{code}{digits}", "+{code} {digits}", "0{digits}", "{digits}", "{code}{digits}"]),
    _REGION,
)
def test_plain_phone_agrees_with_phonenumbers_on_random_numbers(code, digits, shape, region):
    # Digits after a real country code, with or without '+', or after a national prefix.
    assert _disagreement(shape.format(code=code, digits=digits), region) is None


@settings(max_examples=300, deadline=None)
@given(_mutated_example(), st.sampled_from([str.lower, str.upper, str.title]))
def test_normalize_phone_agrees_with_phonenumbers_in_any_region_case(case, case_of):
    # Given a region in any case, as forms and imports pass it, When normalize_phone reads the number
    text, region = case
    given_region = case_of(region) if region else region
    # Then it gives what the reference gives for the upper-cased region
    expected = _outcome(_phone_reference, norm.clean_text(text), region and region.upper())
    assert _outcome(norm.normalize_phone, text, given_region) == expected
