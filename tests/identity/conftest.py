import pytest

from kinfolk.identity.services import forget_rules


@pytest.fixture(autouse=True)
def _fresh_rules():
    """Each test reads the matching rules of its own database, not a copy an earlier test left behind."""
    forget_rules()
    yield
    forget_rules()
