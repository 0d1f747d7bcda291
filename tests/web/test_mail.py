"""Password reset and invitations over a real SMTP server on loopback; mail settings from KINFOLK_EMAIL_URL."""

import email
import re
import socket

import pytest
from aiosmtpd.controller import Controller
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from kinfolk import config
from kinfolk.access.models import User

pytestmark = pytest.mark.django_db


class Inbox:
    """Keeps every message the SMTP server receives."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append((envelope.rcpt_tos, email.message_from_bytes(envelope.content)))
        return "250 OK"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(settings, monkeypatch):
    """A real SMTP server on 127.0.0.1; Django sends to it through KINFOLK_EMAIL_URL's settings."""
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("KINFOLK_EMAIL_URL", f"smtp://127.0.0.1:{port}")
    for key, value in config.email().items():
        setattr(settings, key, value)
    yield inbox
    controller.stop()


def _link(message):
    body = message.get_payload(decode=True).decode()
    return re.search(r"https?://[^/\s]+(/accounts/reset/[^\s]+/)", body).group(1)


def test_password_reset_by_email(world, smtp, settings):
    client = Client()
    user = world["a"]
    response = client.post("/accounts/password-reset/", {"email": user.email})
    assert response.status_code == 302 and response.url == "/accounts/password-reset/sent/"
    assert len(smtp.messages) == 1
    recipients, message = smtp.messages[0]
    assert recipients == [user.email] and message["Subject"] == "Reset your Kinfolk password"
    link = _link(message)
    form = client.get(link, follow=True)
    assert b'name="new_password1"' in form.content
    set_url = form.redirect_chain[-1][0]
    response = client.post(set_url, {"new_password1": "short", "new_password2": "short"})
    assert b'id="id_new_password2-error">This password is too short.' in response.content
    response = client.post(
        set_url, {"new_password1": "a long new passphrase", "new_password2": "a long new passphrase"}
    )
    assert response.status_code == 302
    assert Client().login(username=user.username, password="a long new passphrase")
    # unknown addresses get the same answer and no mail
    client.post("/accounts/password-reset/", {"email": "nobody@example.org"})
    assert len(smtp.messages) == 1


def test_an_administrator_invites_a_user_who_chooses_a_password(
    world, smtp, settings, as_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the mail leaves once the account is committed
        response = as_user(world["admin"]).post(
            "/settings/users/",
            {
                "email": "grace@example.org",
                "first_name": "Grace",
                "team": world["team_a"].pk,
                "role": "viewer",
            },
        )
    assert response.status_code == 302
    grace = User.objects.get(email="grace@example.org")
    assert (grace.username, grace.has_usable_password(), grace.team_roles) == (
        "grace",
        False,
        {world["team_a"].pk: "viewer"},
    )
    ((recipients, message),) = smtp.messages
    assert recipients == ["grace@example.org"] and "Your username is grace." in message.get_payload()
    client = Client()
    set_url = client.get(_link(message), follow=True).redirect_chain[-1][0]
    client.post(
        set_url, {"new_password1": "grace's own passphrase", "new_password2": "grace's own passphrase"}
    )
    assert Client().login(username="grace", password="grace's own passphrase")
    # a second invitation to the same address is refused with its reason; members may not invite
    response = as_user(world["admin"]).post("/settings/users/", {"email": "Grace@example.org"})
    assert "grace@example.org already has an account." in response.content.decode().lower()
    as_user(world["a"]).post("/settings/users/", {"email": "x@example.org"})
    assert not User.objects.filter(email="x@example.org").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mailer:s%40cret@mail.example.org:587?tls=1",
         {"EMAIL_HOST": "mail.example.org", "EMAIL_PORT": 587, "EMAIL_HOST_USER": "mailer",
          "EMAIL_HOST_PASSWORD": "s@cret", "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False}),
        ("smtps://mail.example.org", {"EMAIL_PORT": 465, "EMAIL_USE_SSL": True, "EMAIL_USE_TLS": False}),
        ("console://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ("none://", {"EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}),
    ],
)  # fmt: skip
def test_email_settings_from_the_environment(monkeypatch, url, expected):
    monkeypatch.setenv("KINFOLK_EMAIL_URL", url)
    monkeypatch.setenv("KINFOLK_EMAIL_FROM", "Kinfolk <crm@example.org>")
    values = config.email()
    assert {k: values[k] for k in expected} == expected
    assert values["DEFAULT_FROM_EMAIL"] == "Kinfolk <crm@example.org>"


@pytest.mark.parametrize("url", ["http://mail.example.org", "smtp://", "smtp://host:port"])
def test_bad_email_urls_are_named(monkeypatch, url):
    monkeypatch.setenv("KINFOLK_EMAIL_URL", url)
    with pytest.raises(ImproperlyConfigured, match="KINFOLK_EMAIL_URL="):
        config.email()
