"""Inviting people to Kinfolk: an account with no password and an email with a link to choose one."""

import re

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.translation import gettext as _

from kinfolk.access.models import Role, User
from kinfolk.access.services import check_add_member, check_create_user
from kinfolk.identity.normalize import normalize_email


def _username_from(email):
    base = re.sub(r"[^a-z0-9._-]", "", email.split("@", 1)[0].lower())[:140] or "user"
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}{n}"
    return name


def check_invite_user(*, data, team=None, role=Role.MEMBER, actor, base_url):
    """Create an account for someone (administrators), give them a role in a team, email them a link."""
    email = (data.get("email") or "").strip()
    try:
        email, _normalized = normalize_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": [f"{email!r}: {m}" for m in exc.messages]}) from exc
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": [_("%(email)s already has an account.") % {"email": email}]})
    with transaction.atomic():
        user = check_create_user(
            data={
                "username": (data.get("username") or "").strip() or _username_from(email),
                "email": email,
                "first_name": data.get("first_name", ""),
                "last_name": data.get("last_name", ""),
            },
            actor=actor,
        )
        if team is not None:
            check_add_member(team, user, role=role, actor=actor)
    transaction.on_commit(lambda: send_invitation(user, inviter=actor, base_url=base_url))
    return user


def set_password_url(user, base_url):
    """The link that lets a user choose a password (Django's reset link; valid PASSWORD_RESET_TIMEOUT)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return base_url.rstrip("/") + reverse("web:password_reset_confirm", args=[uid, token])


def send_invitation(user, *, inviter, base_url):
    context = {"user": user, "inviter": inviter, "url": set_password_url(user, base_url)}
    send_mail(
        subject=_("You are invited to Kinfolk"),
        message=render_to_string("web/registration/invitation_email.txt", context),
        from_email=None,
        recipient_list=[user.email],
    )
