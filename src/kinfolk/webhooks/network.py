"""The guarded HTTP client of webhooks: only public addresses, checked when sending, and pinned.

A subscription's host is resolved once per attempt; every address it resolves to must be public
(not loopback, private, link-local, multicast, reserved, unspecified, shared/CGNAT, or a cloud
metadata address), in whatever form it was written (decimal, hex or octal IPv4, IPv4-mapped IPv6).
The connection then goes to exactly the address that was checked, while the Host header and TLS
server name stay the URL's host name: a DNS answer that changes between the check and the connection
(DNS rebinding) cannot redirect it. Redirects are never followed. Hosts named in
KINFOLK_WEBHOOK_ALLOWED_HOSTS (names or addresses) are exempt, for receivers on an internal network.
"""

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.utils.translation import gettext as _
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import NewConnectionError
from urllib3.util import connection as urllib3_connection

SCHEMES = ("http", "https")
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
EXCERPT_BYTES = 1024


class UnsafeTarget(ValueError):
    """The URL may not be called: wrong scheme, no host, or an address that is not public."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (lowercased, no brackets)
    port: int
    path: str  # path and query


def allowed_hosts():
    return {
        h.strip().lower().strip("[]")
        for h in getattr(settings, "KINFOLK_WEBHOOK_ALLOWED_HOSTS", ())
        if h.strip()
    }


def parse(url):
    """Split a webhook URL into its parts; raise UnsafeTarget for anything but http(s)://host/…."""
    if not isinstance(url, str) or not url.strip():
        raise UnsafeTarget(_("Give the URL of your receiver, like https://example.org/hooks/kinfolk."))
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget(_("%(url)r is not a valid URL: %(error)s.") % {"url": url, "error": exc}) from exc
    scheme = (parts.scheme or "").lower()
    if scheme not in SCHEMES:
        raise UnsafeTarget(
            _("%(url)r: only http:// and https:// addresses can receive webhooks.") % {"url": url}
        )
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeTarget(_("%(url)r has no host name.") % {"url": url})
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget(_("%(url)r: put no user name or password in the URL.") % {"url": url})
    if any(c.isspace() for c in url.strip()):
        raise UnsafeTarget(_("%(url)r contains spaces.") % {"url": url})
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def literal_address(host):
    """The IP address a host name stands for when it is an address in any notation, else None.

    inet_aton reads the legacy IPv4 forms a resolver also accepts: 2130706433, 0x7f.1, 0177.0.0.1.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def blocked_reason(address):
    """Why an address may not receive webhooks, or '' when it is a public address."""
    ip = ipaddress.ip_address(address) if not isinstance(address, ipaddress._BaseAddress) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return blocked_reason(ip.ipv4_mapped)
        if ip.sixtofour is not None and blocked_reason(ip.sixtofour):
            return blocked_reason(ip.sixtofour)
        if ip in NAT64:
            return blocked_reason(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip in METADATA:
        return _("a cloud metadata address")
    checks = (
        (ip.is_loopback, _("a loopback address")),
        (ip.is_unspecified, _("an unspecified address")),
        (ip.is_link_local, _("a link-local address")),
        (ip.is_multicast, _("a multicast address")),
        (isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT, _("a shared (carrier-grade NAT) address")),
        (ip.is_private, _("a private address")),
        (ip.is_reserved, _("a reserved address")),
        (not ip.is_global, _("not a public address")),
    )
    for hit, reason in checks:
        if hit:
            return reason
    return ""


def check_url(url):
    """Validate a URL when a subscription is saved: scheme, host, and no literal internal address.

    Host names are resolved only when sending (see resolve_target): an answer can change later.
    """
    target = parse(url)
    allowed = allowed_hosts()
    if target.host in allowed:
        return target
    if target.host == "localhost" or target.host.endswith(".localhost"):
        raise UnsafeTarget(
            _("%(host)s is this machine; webhooks go to public addresses.") % {"host": target.host}
        )
    ip = literal_address(target.host)
    if ip is not None and str(ip) not in allowed:
        reason = blocked_reason(ip)
        if reason:
            raise UnsafeTarget(
                _(
                    "%(host)s is %(reason)s; webhooks go to public addresses (or hosts in KINFOLK_WEBHOOK_ALLOWED_HOSTS)."
                )
                % {"host": target.host, "reason": reason}
            )
    return target


def resolve_target(url):
    """Check a URL as it is about to be called: (target, the one checked address to connect to)."""
    target = check_url(url)
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(
            _("Could not resolve %(host)s: %(error)s") % {"host": target.host, "error": exc}
        ) from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UnsafeTarget(_("%(host)s has no address.") % {"host": target.host})
    allowed = allowed_hosts()
    if target.host not in allowed:
        for address in addresses:
            if address.split("%")[0] in allowed:
                continue
            reason = blocked_reason(address.split("%")[0])
            if reason:
                raise UnsafeTarget(
                    _("%(host)s resolves to %(address)s, %(reason)s.")
                    % {"host": target.host, "address": address, "reason": reason}
                )
    return target, addresses[0]


class _PinnedMixin:
    """Connect to the address that was checked; Host and TLS server name stay the URL's host."""

    def __init__(self, *args, pinned_address, **kwargs):
        super().__init__(*args, **kwargs)
        self.pinned_address = pinned_address

    def _new_conn(self):
        try:
            return urllib3_connection.create_connection(
                (self.pinned_address, self.port),
                self.timeout,
                source_address=self.source_address,
                socket_options=self.socket_options,
            )
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to connect to {self.pinned_address}: {exc}") from exc


class PinnedHTTPConnection(_PinnedMixin, HTTPConnection):
    pass


class PinnedHTTPSConnection(_PinnedMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class _PinnedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


@dataclass
class Answer:
    status_code: int | None
    duration_ms: int
    excerpt: str
    error: str


def post(url, *, body, headers, timeout=None):
    """POST body to url through the guard; never raises for network trouble, returns an Answer."""
    timeout = timeout or float(getattr(settings, "KINFOLK_WEBHOOK_TIMEOUT_SECONDS", 10))
    started = time.monotonic()

    def elapsed():
        return int((time.monotonic() - started) * 1000)

    try:
        target, address = resolve_target(url)
    except UnsafeTarget as exc:
        return Answer(None, elapsed(), "", str(exc)[:500])
    pool_class = _PinnedHTTPSPool if target.scheme == "https" else _PinnedHTTPPool
    pool = pool_class(
        target.host,
        target.port,
        maxsize=1,
        retries=False,
        timeout=urllib3.Timeout(connect=min(5.0, timeout), read=timeout),
        pinned_address=address,
    )
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body,
            headers=headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            excerpt = response.read(EXCERPT_BYTES, decode_content=True) or b""
        except Exception:  # an unreadable body still leaves the status code
            excerpt = b""
        finally:
            response.release_conn()
        return Answer(response.status, elapsed(), excerpt.decode("utf-8", "replace")[:EXCERPT_BYTES], "")
    except Exception as exc:  # connection refused, timeouts, TLS errors: an attempt that failed
        return Answer(None, elapsed(), "", f"{type(exc).__name__}: {exc}"[:500])
    finally:
        pool.close()
