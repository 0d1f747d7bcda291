from tests.conftest import make_person


def test_a_person_made_through_the_service_gets_a_display_name(db):
    person = make_person(given_name="Ada", family_name="Lovelace")
    assert person.display_name == "Ada Lovelace"
