"""Rules that need no receiver: known event types, address notations, validation of a new webhook."""

import ipaddress
import re
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from kinfolk.access.models import Role
from kinfolk.webhooks import network
from kinfolk.webhooks import services as ws
from kinfolk.webhooks.models import EVENT_TYPES, WebhookSubscription
from tests.conftest import make_team, make_user

SRC = Path(__file__).resolve().parents[2] / "src" / "kinfolk"


def test_every_offered_event_type_is_one_kinfolk_emits():
    # Given the event names written in the services (emit_on_commit("…") and event="…")
    text = "\n".join(p.read_text() for p in SRC.rglob("*.py") if "webhooks" not in p.parts)
    emitted = set(re.findall(r'emit_on_commit\(\s*"([a-z_]+\.[a-z_]+)"', text))
    emitted |= set(re.findall(r'event="([a-z_]+\.[a-z_]+)"', text))
    # Then every type a webhook may subscribe to is really emitted
    assert set(EVENT_TYPES) - emitted == set()


INTERNAL = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")]
INTERNAL += [ipaddress.ip_network(n) for n in ("169.254.0.0/16", "100.64.0.0/10", "0.0.0.0/8")]


@st.composite
def internal_ipv4(draw):
    net = draw(st.sampled_from(INTERNAL))
    return ipaddress.IPv4Address(int(net.network_address) + draw(st.integers(0, net.num_addresses - 1)))


def notations(ip):
    a, b, c, d = ip.packed
    n = int(ip)
    return [
        str(ip),
        str(n),
        hex(n),
        f"0{a:o}.{b}.{c}.{d}",
        f"{a}.{(b << 16) | (c << 8) | d}",
        f"0x{a:x}.0x{b:x}.0x{c:x}.0x{d:x}",
        f"[::ffff:{ip}]",
    ]


@settings(max_examples=200, deadline=None)
@given(internal_ipv4())
def test_internal_addresses_are_refused_in_every_notation(ip):
    for host in notations(ip):
        with pytest.raises(network.UnsafeTarget):
            network.check_url(f"https://{host}/hook")


@pytest.mark.django_db
def test_every_problem_of_a_new_webhook_is_named_at_once_and_nothing_is_saved():
    team = make_team("Fundraising")
    manager = make_user("mia", teams=[(team, Role.MANAGER)])
    with pytest.raises(ValidationError) as caught:
        ws.check_create_subscription(data={"url": "http://[::1]/", "event_types": ["nope"]}, actor=manager)
    assert set(caught.value.message_dict) == {"team", "url", "event_types"}
    with pytest.raises(ValidationError) as caught:
        ws.check_create_subscription(
            data={"url": "https://example.org/" + "a" * 2000, "team": team.pk, "event_types": ["*"]},
            actor=manager,
        )
    assert "2000" in caught.value.message_dict["url"][0]
    assert not WebhookSubscription.objects.exists()
