"""Property tests for the normalisation shared by every channel."""

import re
import unicodedata

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from kinfolk.identity.normalize import clean_text, name_key, normalize_email, normalize_phone, split_name

local = st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}[a-z0-9]", fullmatch=True).filter(lambda s: ".." not in s)
domain = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]\.(org|com|de|co\.uk)", fullmatch=True).filter(
    lambda d: "--" not in d  # "xn--" and its like are reserved for Punycode (IDNA), refused by the validator
)


@given(local, domain, st.booleans())
def test_normalize_email_is_idempotent_and_case_insensitive_on_domain(user, host, upper):
    given_ = f"{user}@{host.upper() if upper else host}"
    tidy, key = normalize_email(given_)
    assert tidy == f"{user}@{host}"
    assert normalize_email(tidy) == (tidy, key)
    assert key == key.lower()


@pytest.mark.parametrize("bad", ["", "plain", "a@", "@b.org", "a@@b.org", "a b@c.org"])
def test_invalid_email_raises(bad):
    with pytest.raises(ValidationError):
        normalize_email(bad)


REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number(r) is not None)


def _jitter(text, draw):
    out = []
    for ch in text:
        if ch == " ":
            out.append(draw(st.sampled_from([" ", "  ", "-", "."])))
        else:
            out.append(ch)
    return "".join(out)


@settings(max_examples=300)
@given(st.data())
def test_normalize_phone_reads_formatted_numbers(data):
    region = data.draw(st.sampled_from(REGIONS))
    number = phonenumbers.example_number(region)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    international = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    assert normalize_phone(_jitter(international, data.draw), None) == e164
    assert normalize_phone(_jitter(national, data.draw), region) == e164
    assert normalize_phone(e164) == e164


@pytest.mark.parametrize(
    ("name", "key"), [("Müller", "muller"), ("José", "jose"), ("  Zoë  O'Brien ", "zoe o'brien")]
)
def test_name_key_strips_accents(name, key):
    assert name_key(name) == key


@given(st.text())
def test_name_key_is_idempotent_ascii_lowercase(text):
    key = name_key(text)
    assert name_key(key) == key
    assert key.isascii() and key == key.lower()


first = st.sampled_from(["Ada", "José", "Mary", "Jean-Luc", "Zoë"])
last = st.sampled_from(["Lovelace", "Müller", "Smith", "García", "Okafor"])


@given(first, st.sampled_from(["", "Anne"]), last)
def test_split_name_round_trips(given_name, middle, family):
    full = " ".join(p for p in (given_name, middle, family) if p)
    parts = split_name(full)
    assert (parts["given_name"], parts["middle_name"], parts["family_name"]) == (given_name, middle, family)


@given(st.text())
def test_clean_text_leaves_no_control_characters_and_is_idempotent(text):
    cleaned = clean_text(text)
    assert not any(unicodedata.category(ch) == "Cc" for ch in cleaned)
    assert not re.search(r"\s\s", cleaned)
    assert clean_text(cleaned) == cleaned
