"""Kinfolk's configuration, read from KINFOLK_* environment variables (documented in README.md)."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def env_flag(name, default=False):
    """A boolean environment variable; anything but a clear yes/no is a configuration error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: expected one of 1/0, true/false, yes/no, on/off.")


def env_list(name, default=()):
    """A comma-separated environment variable as a list of non-empty strings."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_text(name, default=""):
    """A text environment variable, stripped."""
    return os.environ.get(name, default).strip()


def env_number(name, default):
    """A positive number from the environment; anything else is a configuration error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a positive number of seconds.")
    return value


def env_int(name, default):
    """A positive whole-number environment variable."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number of at least 1.")
    return int(raw)


def kinfolk_home():
    """The folder that holds the SQLite database, the secret key and uploaded files."""
    home = Path(os.environ.get("KINFOLK_HOME") or "var").expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def secret_key(home):
    """KINFOLK_SECRET_KEY, or one generated on first run and kept in KINFOLK_HOME/secret_key."""
    key = os.environ.get("KINFOLK_SECRET_KEY", "").strip()
    if key:
        return key
    path = home / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = get_random_secret_key() + get_random_secret_key()
    # Exclusive create: two processes starting at once must not each write a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def database(home):
    """KINFOLK_DATABASE_URL (postgres:// or sqlite:///), or SQLite in KINFOLK_HOME."""
    import dj_database_url

    url = os.environ.get("KINFOLK_DATABASE_URL", "").strip()
    if not url:
        url = f"sqlite:///{home / 'kinfolk.sqlite3'}"
    try:
        db = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"KINFOLK_DATABASE_URL={url!r}: {exc}") from exc
    if db["ENGINE"] == "django.db.backends.sqlite3":
        # Kept open between requests like PostgreSQL's: opening SQLite (its pragmas and Django's ~30
        # SQL functions) cost about 1 ms of CPU, a quarter of an API read. Between requests the
        # connection is in autocommit and holds no lock or snapshot.
        db["CONN_MAX_AGE"] = 60
        db["OPTIONS"] = {
            # IMMEDIATE: a writer takes the lock at BEGIN, so concurrent writers queue on
            # busy_timeout instead of failing with "database is locked" mid-transaction.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        }
    elif db["ENGINE"] == "django.db.backends.postgresql":
        db.setdefault("OPTIONS", {})
        if env_flag("KINFOLK_DATABASE_PREPARED", default=True):
            # The server prepares a statement run this often on a connection once, not on every run
            # (Django's own cursors never prepare; core.db.fetch_each's do): see docs/configuration.md
            db["OPTIONS"].setdefault("prepare_threshold", 5)
    else:
        raise ImproperlyConfigured(
            f"KINFOLK_DATABASE_URL={url!r}: Kinfolk runs on SQLite or PostgreSQL (postgres://…, sqlite:///…)."
        )
    return db


def email(debug=False):
    """Django's EMAIL_* settings from KINFOLK_EMAIL_URL and KINFOLK_EMAIL_FROM.

    smtp://user:password@host:587?tls=1, smtps://host:465 (TLS from the start), console:// (print the
    mail, the default under KINFOLK_DEBUG) or none:// (keep nothing, the default otherwise).
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    url = os.environ.get("KINFOLK_EMAIL_URL", "").strip() or ("console://" if debug else "none://")
    sender = os.environ.get("KINFOLK_EMAIL_FROM", "").strip() or "Kinfolk <kinfolk@localhost>"
    parts = urlsplit(url)
    result = {"DEFAULT_FROM_EMAIL": sender, "SERVER_EMAIL": sender}
    if parts.scheme == "console":
        return {**result, "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if parts.scheme == "none":
        return {**result, "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend"}
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ImproperlyConfigured(
            f"KINFOLK_EMAIL_URL={url!r}: expected smtp://user:password@host:port, smtps://…, console:// or none://."
        )
    query = parse_qs(parts.query)
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError as exc:
        raise ImproperlyConfigured(f"KINFOLK_EMAIL_URL={url!r}: {exc}") from exc
    tls = query.get("tls", ["0"])[0].lower() in TRUE
    return {
        **result,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parts.hostname,
        "EMAIL_PORT": port,
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": parts.scheme == "smtps",
        "EMAIL_USE_TLS": tls and parts.scheme == "smtp",
        "EMAIL_TIMEOUT": 20,
    }
