"""Matching keys, scoring and explanations, without a database."""

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from kinfolk.identity.batch import collect_pairs, pair_code, score_pairs
from kinfolk.identity.matching import (
    Profile,
    Scorer,
    address_key,
    blocking_keys,
    explain,
    fold_name,
    given_key,
    make_profile,
    match_email,
    match_org_name,
    match_postcode,
    profile_from_row,
    score_pair,
    street_key,
)
from kinfolk.identity.models import default_rules

W = default_rules()["weights"]


def test_gmail_ignores_dots_and_plus_tags_outlook_plus_tags_others_neither():
    assert match_email("Jane.Doe+news@GoogleMail.com") == "janedoe@gmail.com"
    assert match_email("jane.doe+news@outlook.com") == "jane.doe@outlook.com"
    assert match_email("jane.doe+news@example.org") == "jane.doe+news@example.org"


def test_names_fold_transliterations_and_umlaut_spellings():
    assert fold_name("Müller") == fold_name("Mueller") == fold_name("Muller") == "muller"
    assert fold_name("José") == "jose"
    assert fold_name("Øresund") == "oresund"
    assert fold_name("  van der  Berg ") == "van der berg"


def test_nicknames_resolve_to_one_given_name():
    assert given_key("Bob") == given_key("Robert") == "robert"
    assert given_key("Liz") == "elizabeth"
    assert given_key("Bill") == given_key("William") == "william"
    assert given_key("Ada") == "ada"


def test_organisation_names_postcodes_and_streets():
    assert match_org_name("ACME Ltd.") == "acme"
    assert match_org_name("Acme, Inc.") == "acme"
    assert match_org_name("Kinder e.V.") == "kinder"
    assert match_org_name("Müller GmbH") == "muller"
    assert match_postcode("sw1a 1aa") == "SW1A1AA"
    assert street_key("12 High Street") == street_key("12 high st.") == "12 high st"
    assert street_key("Hauptstraße 5") == "hauptst 5"
    assert address_key("10115", "Hauptstraße 5") == "10115|hauptst 5"
    assert address_key("", "Hauptstraße 5") == ""


def test_swapped_names_share_a_blocking_key():
    straight = make_profile(1, given_name="John", family_name="Smith")
    swapped = make_profile(2, given_name="Smith", family_name="John")
    assert ("name", "s530|john") in blocking_keys(straight) & blocking_keys(swapped)


def test_typing_slips_and_initials_meet_through_phone_postcode_and_name_sound():
    home = {"phones": ["+442079460958"], "addresses": [("SW1A 1AA", "1 Mall")]}
    original = make_profile(1, given_name="Tina", family_name="Forsman", **home)
    typo = make_profile(2, given_name="Tina", family_name="Forsamn", **home)
    initial = make_profile(3, given_name="T.", family_name="Forsman", **home)
    key = ("contact", "+442079460958|SW1A1AA|f625")
    assert key in blocking_keys(original) & blocking_keys(typo) & blocking_keys(initial)


def test_score_explains_each_field():
    born = datetime.date(1980, 5, 17)
    p = make_profile(
        1,
        given_name="Robert",
        family_name="Mueller",
        birth_date=born,
        emails=["bob@example.org"],
        addresses=[("10115", "Hauptstr. 5")],
    )
    q = make_profile(
        2,
        given_name="Bob",
        family_name="Müler",
        birth_date=born,
        emails=["bob@example.org"],
        addresses=[("10117", "Hauptstr. 5")],
    )
    score, reasons = score_pair(p, q, default_rules())
    assert reasons == [
        "email same",
        "given name same",
        "family name Jaro-Winkler 0.96",
        "birth date same",
        "postcode differs",
    ]
    expected = (
        W["email"]["agree"]
        + W["given_name"]["agree"]
        + W["family_name"]["partial"]
        + W["birth_date"]["agree"]
        + W["address"]["disagree"]
    )
    assert score == expected


def test_a_value_many_people_share_counts_for_less_and_says_so():
    p = make_profile(1, given_name="Ada", family_name="Byron", phones=["+442079460958"])
    q = make_profile(2, given_name="Ada", family_name="Byron", phones=["+442079460958"])
    rules = default_rules()
    alone, alone_reasons = score_pair(p, q, rules, counts=lambda kind, value: 2)
    shared, shared_reasons = score_pair(p, q, rules, counts=lambda kind, value: 200 if kind == "phone" else 2)
    assert alone_reasons == ["phone same", "given name same", "family name same"]
    assert shared_reasons == ["phone same (shared by 200 people)", "given name same", "family name same"]
    # each doubling of the people sharing the number takes frequency_scale points off
    assert shared == round(alone - rules["frequency_scale"] * 6.643856189774724, 2)


def test_swapped_names_are_recognised_in_the_score():
    p = make_profile(1, given_name="Anna", family_name="Kowalski", emails=["a@example.org"])
    q = make_profile(2, given_name="Kowalski", family_name="Anna", emails=["a@example.org"])
    score, reasons = score_pair(p, q, default_rules())
    assert reasons == ["email same", "given and family names swapped", "given name same", "family name same"]
    assert score == W["email"]["agree"] + W["given_name"]["agree"] + W["family_name"]["agree"]


def test_an_initial_and_a_keyboard_slip_are_partial_agreements():
    p = make_profile(1, given_name="Tina", family_name="Ford")
    q = make_profile(2, given_name="T.", family_name="Oford")
    score, reasons = score_pair(p, q, default_rules())
    # Jaro-Winkler says 0.85 for Ford and Oford; one letter typed too many still counts as similar
    assert reasons == ["given name Jaro-Winkler 0.90", "family name Jaro-Winkler 0.90"]
    assert score == W["given_name"]["partial"] + W["family_name"]["partial"]


def test_different_people_with_a_common_name_score_low():
    p = make_profile(1, given_name="John", family_name="Smith", birth_date=datetime.date(1970, 1, 1))
    q = make_profile(2, given_name="John", family_name="Smith", birth_date=datetime.date(1991, 3, 9))
    score, reasons = score_pair(p, q, default_rules())
    assert reasons == ["given name same", "family name same", "birth date differs"]
    assert score == W["given_name"]["agree"] + W["family_name"]["agree"] + W["birth_date"]["disagree"]
    assert score < 10


HOME = {"phones": ["+905012345159"], "addresses": [("88903", "59640 Kockan Walks")]}
HOUSEHOLD_REASON = (
    "a name differs and nothing personal is shared: the same phone and address say one household, "
    "perhaps another person in it (counted once)"
)


def _shared_by(phone=2, address=2, email=2):
    return lambda kind, value: {"phone": phone, "address": address, "email": email}.get(kind, 2)


def test_two_people_of_one_household_count_their_home_once():
    # Given two people with one family name, one phone and one address, but clearly different given names
    p = make_profile(1, given_name="Samahat", family_name="Fırat", emails=["samahat@example.tr"], **HOME)
    q = make_profile(2, given_name="Candeniz", family_name="Fırat", **HOME)
    counts = _shared_by(phone=17, address=14)
    scorer = Scorer(default_rules())
    # When they are scored
    score, findings = scorer.compare(p, q, counts)
    # Then the phone and the address are one piece of evidence (the stronger one), with no bonus for both
    phone = scorer.shared("phone", 17)[0]
    address = scorer.shared("address", 14)[0]
    assert score == round(max(phone, address) + W["given_name"]["disagree"] + W["family_name"]["agree"], 2)
    assert score < 10.5  # not suggested for review
    assert explain(findings) == [
        "phone same (shared by 17 people)",
        "given name differs (Jaro-Winkler 0.42)",
        "family name same",
        "address same (shared by 14 people)",
        HOUSEHOLD_REASON,
    ]
    assert scorer.compare(q, p, counts)[0] == score


def test_a_clearly_different_family_name_at_one_home_is_another_person_too():
    p = make_profile(1, given_name="Gustaw", family_name="Miklaszewicz", emails=["g.m@example.pl"], **HOME)
    q = make_profile(2, given_name="Gustaw", family_name="Berg", emails=["g.b@example.pl"], **HOME)
    score, reasons = score_pair(p, q, default_rules())
    assert reasons[-1] == HOUSEHOLD_REASON
    expected = (
        W["email"]["disagree"]
        + W["phone"]["agree"]  # the phone and the address are worth 7.5 and 7: the phone counts
        + W["given_name"]["agree"]
        + W["family_name"]["disagree"]
    )
    assert score == expected


def test_something_personal_shared_keeps_the_home_as_two_agreements():
    # Given the same pair, but sharing their own mailbox, or a birth date
    born = datetime.date(1980, 5, 17)
    for personal in ({"emails": ["s@example.tr"]}, {"birth_date": born}):
        p = make_profile(1, given_name="Samahat", family_name="Fırat", **personal, **HOME)
        q = make_profile(2, given_name="Candeniz", family_name="Fırat", **personal, **HOME)
        score, reasons = score_pair(p, q, default_rules())
        # Then no household rule: the phone, the address and the bonus for both count in full
        assert HOUSEHOLD_REASON not in reasons
        assert reasons[-1] == "the same phone at the same address"


def test_a_mailbox_several_people_share_is_not_personal():
    p = make_profile(1, given_name="Samahat", family_name="Fırat", emails=["firat@example.tr"], **HOME)
    q = make_profile(2, given_name="Candeniz", family_name="Fırat", emails=["firat@example.tr"], **HOME)
    _score, own = score_pair(p, q, default_rules(), counts=_shared_by(email=2))
    _score, family = score_pair(p, q, default_rules(), counts=_shared_by(email=3))
    assert HOUSEHOLD_REASON not in own
    assert family[-1] == HOUSEHOLD_REASON


def test_a_slip_next_to_an_umlaut_spelling_is_not_another_person():
    # "Gute" typed "Gtue" folds to "gtu" (ue is an umlaut spelling): two slips apart, not a new name
    p = make_profile(1, given_name="Wenke", family_name="Gute", emails=["w@example.de"], **HOME)
    q = make_profile(2, given_name="Wenke", family_name="Gtue", **HOME)
    score, reasons = score_pair(p, q, default_rules())
    assert reasons[1:3] == ["given name same", "family name Jaro-Winkler 0.90"]  # one slip: similar
    assert HOUSEHOLD_REASON not in reasons
    assert reasons[-1] == "the same phone at the same address"
    assert score >= 10.5
    # and so for every swap that makes an umlaut spelling (Jnoes folds to jnos)
    for name, typed in (("Jones", "Jnoes"), ("Moreau", "Mroeau")):
        p = make_profile(1, given_name="Wenke", family_name=name)
        q = make_profile(2, given_name="Wenke", family_name=typed)
        assert score_pair(p, q, default_rules())[1][1] == "family name Jaro-Winkler 0.90", typed
    # while a name that differs by more than the swap stays different
    p = make_profile(1, given_name="Wenke", family_name="Jones")
    q = make_profile(2, given_name="Wenke", family_name="Jnoas")
    assert score_pair(p, q, default_rules())[1][1].startswith("family name differs")


def test_blocks_make_pairs_only_up_to_their_cap_and_count_shared_values():
    rows = sorted(
        [("email", "a@x.org", 1), ("email", "a@x.org", 2)]
        + [("phone", "+1", pk) for pk in range(1, 5)]
        + [("name", "s530|john", pk) for pk in range(10, 13)]
    )
    pairs, counts = collect_pairs(rows, cap=3, caps={"name": 2})
    assert pairs == {pair_code(1, 2)}  # four share the phone (over 3), three the name (over 2)
    assert counts == {("phone", "+1"): 4, ("name", "s530|john"): 3}


def test_scoring_on_two_workers_finds_what_one_finds():
    people = {
        pk: make_profile(pk, given_name=name, family_name="Lovelace", emails=[f"{name}@example.org"])
        for pk, name in enumerate(["Ada", "Ada", "Augusta", "Ada", "Byron"] * 20, start=1)
    }
    pairs = [pair_code(a, b) for a in people for b in people if a < b]
    scorer = Scorer(default_rules())
    one = score_pairs(pairs, people, scorer, {}, 10, workers=1)
    two = score_pairs(pairs, people, scorer, {}, 10, workers=2, step=100)
    assert one == two
    assert len(one) == 60 * 59 // 2 + 2 * (20 * 19 // 2)  # each Ada with every Ada, Augustas, Byrons


names = st.sampled_from(["Robert", "Bob", "Anna", "Müller", "Mueller", "José", "T.", "Kowalski", ""])
emails = st.lists(st.sampled_from(["a@example.org", "A.B+x@gmail.com", "ab@gmail.com"]), max_size=2)
phones = st.lists(st.sampled_from(["+442079460958", "+4930901820"]), max_size=2)
addresses = st.lists(st.sampled_from([("10115", "Hauptstr. 5"), ("SW1A 1AA", "1 Mall")]), max_size=2)
dates = st.sampled_from([None, datetime.date(1980, 5, 17), datetime.date(1980, 17 % 12, 5)])


def _profiles(pk):
    return st.builds(
        make_profile,
        st.just(pk),
        given_name=names,
        family_name=names,
        birth_date=dates,
        emails=emails,
        phones=phones,
        addresses=addresses,
        country=st.sampled_from(["", "DE", "GB"]),
    )


@settings(max_examples=300)
@given(_profiles(1), _profiles(2))
def test_scores_are_symmetric_and_explain_every_point(p, q):
    scorer = Scorer(default_rules())
    forward, findings = scorer.compare(p, q)
    backward, _findings = scorer.compare(q, p)
    assert forward == backward
    assert len(explain(findings)) == len(findings)


@settings(max_examples=200)
@given(_profiles(7))
def test_stored_profiles_read_back_the_same(profile):
    assert profile_from_row(7, *profile.to_row()) == profile


@settings(max_examples=200)
@given(_profiles(1))
def test_a_person_always_meets_their_own_copy(profile):
    copy = Profile(**{**{s: getattr(profile, s) for s in Profile.__slots__}, "id": 2})
    keys = blocking_keys(profile)
    assert keys == blocking_keys(copy)
    if keys:
        assert Scorer(default_rules()).compare(profile, copy)[0] >= 0


def test_short_given_names_two_slips_apart_at_one_home_are_two_people():
    # Given relatives at one home with short given names two slips apart (not one name mistyped)
    for first, second in (("Marc", "Karl"), ("Rosie", "Ross"), ("Emin", "Ezgin")):
        p = make_profile(1, given_name=first, family_name="Powell", emails=["a@example.org"], **HOME)
        q = make_profile(2, given_name=second, family_name="Powell", emails=["b@example.org"], **HOME)
        score, reasons = score_pair(p, q, default_rules())
        # Then their home counts once and they are not suggested
        assert reasons[-1] == HOUSEHOLD_REASON, (first, second)
        assert score < 10.5
    # while one slip in a short name is still the same name
    p = make_profile(1, given_name="Anna", family_name="Powell", emails=["a@example.org"], **HOME)
    q = make_profile(2, given_name="Anan", family_name="Powell", **HOME)
    assert HOUSEHOLD_REASON not in score_pair(p, q, default_rules())[1]


def test_a_relatives_duplicate_with_swapped_names_is_still_another_person():
    # Given Patricia Bruneau and a record of her husband Grégoire written family name first, at one home
    p = make_profile(1, given_name="Patricia", family_name="Bruneau", emails=["p@example.fr"], **HOME)
    q = make_profile(2, given_name="Bruneau", family_name="Grégoire", **HOME)
    score, reasons = score_pair(p, q, default_rules())
    # Then the swapped reading is taken, but the given names differ clearly: one household
    assert reasons[1] == "given and family names swapped"
    assert reasons[-1] == HOUSEHOLD_REASON
    assert score < 10.5


def test_initials_in_any_script_and_one_kanji_names():
    assert [given_key(x) for x in ("A.", "A", "く.", "篤.", "充", "Bob")] == [
        "a",
        "a",
        "k",
        "d",
        "chong",
        "robert",
    ]
    # an initial agrees with the name it starts
    p = make_profile(1, given_name="くみ子", family_name="田中", emails=["k@example.jp"])
    q = make_profile(2, given_name="く.", family_name="田中", emails=["k@example.jp"])
    assert score_pair(p, q, default_rules())[1][1:3] == ["given name Jaro-Winkler 0.90", "family name same"]


def test_a_nicknames_full_name_is_not_compared_letter_by_letter():
    # Tina is short for Christine, which is no spelling of Christopher
    p = make_profile(1, given_name="Christopher", family_name="Johnson")
    q = make_profile(2, given_name="Tina", family_name="Johnson")
    assert score_pair(p, q, default_rules())[1][0].startswith("given name differs")
    # while Bob and Robert are one name
    q = make_profile(2, given_name="Bob", family_name="Johnson")
    p = make_profile(1, given_name="Robert", family_name="Johnson")
    assert score_pair(p, q, default_rules())[1][0] == "given name same"
