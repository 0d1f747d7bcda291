"""The SSRF guard: internal addresses in every notation are refused on save and when sending, with no connection."""

import socket

import pytest
from django.core.exceptions import ValidationError

from kinfolk.access.models import Role
from kinfolk.webhooks import network
from kinfolk.webhooks import services as ws
from tests.conftest import make_team, make_user
from tests.webhooks.receiver import Receiver


@pytest.fixture
def listener(settings):
    """A socket listening on loopback, with no host allowed: it must never see a connection."""
    settings.KINFOLK_WEBHOOK_ALLOWED_HOSTS = []
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    yield sock
    sock.close()


def connections(sock):
    count = 0
    while True:
        try:
            conn, _addr = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def corpus(port):
    return [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://2130706433:{port}/",  # 127.0.0.1 as one decimal number
        f"http://0x7f.1:{port}/",  # hex, short form
        f"http://0177.0.0.1:{port}/",  # octal
        f"http://0x7f000001:{port}/",
        f"http://127.1:{port}/",
        f"http://[::1]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",  # IPv4-mapped IPv6
        f"http://[::ffff:7f00:1]:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://[::]:{port}/",
        f"http://10.0.0.1:{port}/",
        f"http://172.16.0.1:{port}/",
        f"http://192.168.1.1:{port}/",
        f"http://100.64.0.1:{port}/",  # carrier-grade NAT
        f"http://169.254.169.254:{port}/latest/meta-data/",  # cloud metadata
        f"http://[fd00:ec2::254]:{port}/",
        f"http://[fe80::1]:{port}/",
        f"http://224.0.0.1:{port}/",
        f"http://240.0.0.1:{port}/",
        f"http://[64:ff9b::7f00:1]:{port}/",  # NAT64 of 127.0.0.1
        f"http://[2002:7f00:1::]:{port}/",  # 6to4 of 127.0.0.1
    ]


def test_every_internal_address_form_is_refused_when_sending_and_never_connected(listener):
    port = listener.getsockname()[1]
    for url in corpus(port):
        # When a delivery is attempted to it
        answer = network.post(url, body=b"{}", headers={"content-type": "application/json"})
        # Then it is refused before any connection
        assert answer.status_code is None and answer.error, url
    assert connections(listener) == 0


@pytest.mark.django_db
def test_subscriptions_to_internal_addresses_are_refused_on_save_with_a_clear_message(listener):
    team = make_team("Fundraising")
    manager = make_user("mia", teams=[(team, Role.MANAGER)])
    port = listener.getsockname()[1]
    for url in corpus(port):
        with pytest.raises(ValidationError) as caught:
            ws.check_create_subscription(
                data={"url": url, "team": team.pk, "event_types": ["*"]}, actor=manager
            )
        assert "url" in caught.value.message_dict, url
    for url, words in (
        ("ftp://example.org/", "only http:// and https://"),
        ("file:///etc/passwd", "only http:// and https://"),
        ("https://user:pw@example.org/", "no user name or password"),
        ("https:///nohost", "no host name"),
        ("http://169.254.169.254/", "metadata"),
        ("http://2130706433/", "loopback"),
    ):
        with pytest.raises(ValidationError) as caught:
            ws.check_create_subscription(
                data={"url": url, "team": team.pk, "event_types": ["*"]}, actor=manager
            )
        assert words in caught.value.message_dict["url"][0], url
    assert connections(listener) == 0


def test_a_name_resolving_to_loopback_is_refused_when_sending(listener, monkeypatch):
    # Given a public-looking name whose DNS answer is loopback (DNS rebinding)
    port = listener.getsockname()[1]
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "rebind.example.com":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    # When a delivery is sent to it: refused at send time (saving it was fine: the name looked public)
    network.check_url(f"http://rebind.example.com:{port}/")
    answer = network.post(f"http://rebind.example.com:{port}/", body=b"{}", headers={})
    # Then nothing connected
    assert answer.status_code is None and "127.0.0.1" in answer.error and "loopback" in answer.error
    assert connections(listener) == 0


def test_the_connection_goes_to_the_address_that_was_checked(settings, monkeypatch):
    # Given an allowed name that resolves to a receiver, and answers differently on a second lookup
    receiver = Receiver()
    settings.KINFOLK_WEBHOOK_ALLOWED_HOSTS = ["hooks.internal.example"]
    real = socket.getaddrinfo
    lookups = []

    def fake(host, *args, **kwargs):
        if host == "hooks.internal.example":
            lookups.append(host)
            target = "127.0.0.1" if len(lookups) == 1 else "192.0.2.1"
            return real(target, *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    try:
        # When a delivery is sent
        answer = network.post(
            f"http://hooks.internal.example:{receiver.port}/in", body=b"{}", headers={"x-test": "1"}
        )
        # Then the name was resolved once, the checked address was used, and Host stayed the name
        assert answer.status_code == 200, answer.error
        assert lookups == ["hooks.internal.example"]
        assert receiver.requests[0]["headers"]["host"] == f"hooks.internal.example:{receiver.port}"
    finally:
        receiver.close()


def test_redirects_are_not_followed(settings):
    # Given a receiver that answers with a redirect to an internal address
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    settings.KINFOLK_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    hits = []

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            hits.append(self.path)
            self.send_response(307)
            self.send_header("location", "/elsewhere")
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        answer = network.post(f"http://127.0.0.1:{server.server_address[1]}/first", body=b"{}", headers={})
    finally:
        server.shutdown()
        server.server_close()
    # Then the 307 is the answer (a failed attempt) and the new location was never asked
    assert answer.status_code == 307
    assert hits == ["/first"]


@pytest.mark.parametrize(
    "address,blocked",
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("::ffff:10.0.0.1", True),
        ("100.127.255.255", True),
        ("192.0.2.1", True),
        ("255.255.255.255", True),
    ],
)
def test_blocked_reason(address, blocked):
    assert bool(network.blocked_reason(address)) is blocked
