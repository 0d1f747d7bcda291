"""The quick paths of normalisation give exactly what the slow ones (and the libraries) give."""

import string
import sys
import unicodedata

import pytest
from django.core.exceptions import ValidationError
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


def _every_example_number():
    """Each region's and non-geographic code's example numbers of every type, in E.164."""
    import phonenumbers

    kinds = [v for k, v in vars(phonenumbers.PhoneNumberType).items() if k.isupper()]
    examples = [
        phonenumbers.example_number_for_type(r, t) for r in phonenumbers.SUPPORTED_REGIONS for t in kinds
    ]
    examples += [
        phonenumbers.example_number_for_non_geo_entity(c)
        for c in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    return sorted({phonenumbers.format_number(e, phonenumbers.PhoneNumberFormat.E164) for e in examples if e})


def test_national_digits_agree_with_phonenumbers_for_every_example_number():
    import phonenumbers

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
