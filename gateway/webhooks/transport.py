"""The only code that turns a partner's webhook URL into a network connection.

Two jobs, both about distrust. The URL policy (:func:`check_url`) makes server-side request
forgery impossible: https on port 443 only, no credentials or fragments, and every address the
host stands for must be public; IP literals are recognised in every spelling ``inet_aton``
accepts without asking a resolver, and IPv6 forms that embed an IPv4 address (mapped, NAT64,
6to4, Teredo...) are judged by that address. :func:`post` then connects to the address that was
checked, never to a fresh lookup of the name (DNS rebinding), and treats the answer as hostile:
no redirects, a byte cap, and a wall-clock deadline that a partner dribbling bytes cannot
stretch. It reports what happened as an :class:`Outcome` instead of raising.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from urllib.parse import urlsplit

import urllib3.exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.response import BaseHTTPResponse
from urllib3.util.ssl_match_hostname import CertificateError

from gateway.clock import utcnow

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
BODY_PREFIX_BYTES = 4096
_READ_CHUNK = 16384
_DEFAULT_PORTS = {"http": 80, "https": 443}


# getaddrinfo has no timeout of its own: a slow DNS server would hold a worker (or a registration
# request) for as long as the system resolver retries. Lookups run on these threads instead, and
# an answer later than DNS_TIMEOUT counts as none (the thread finishes on its own).
DNS_TIMEOUT = 5.0
_lookups = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives for ``host``, in its order, without repeats."""
    try:
        answers = _lookups.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(DNS_TIMEOUT)
    except (OSError, UnicodeError, concurrent.futures.TimeoutError):
        return []
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))


class StaticResolver:
    """A resolver answering from a table, for tests and local runs: no DNS traffic at all.

    ``StaticResolver({"partner.example": ["127.0.0.1"]})``; a name not in the table has no
    addresses. ``lookups`` lists every (host, port) asked, so a test can prove that an IP
    literal never reached the resolver.
    """

    def __init__(self, table: Mapping[str, Sequence[str]] | None = None) -> None:
        self.table: dict[str, list[str]] = {}
        self.lookups: list[tuple[str, int]] = []
        for host, addresses in (table or {}).items():
            self.add(host, *addresses)

    def add(self, host: str, *addresses: str) -> None:
        self.table[host.lower().rstrip(".")] = list(addresses)

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        return list(self.table.get(host.lower().rstrip("."), []))


@dataclass(frozen=True)
class Policy:
    """What :func:`check_url` admits and how long :func:`post` may take.

    ``allowlist`` is for tests only: a host listed there (a name or an IP literal) is admitted
    with http or https, on any port, at any address, so a local receiver can be reached.
    ``trusted_ca_file`` replaces the public CA bundle, again so tests can serve TLS locally.
    """

    allowlist: frozenset[str] = frozenset()
    resolver: Callable[[str, int], list[str]] = system_resolver
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    max_response_bytes: int = 64 * 1024
    trusted_ca_file: str | None = None

    def __post_init__(self) -> None:
        # one spelling per host, so "[::1]", "::1" and "LocalHost." all match what the URL says
        object.__setattr__(self, "allowlist", frozenset(_canonical_host(h) for h in self.allowlist))
        if self.connect_timeout <= 0 or self.total_timeout <= 0 or self.max_response_bytes < 0:
            raise ValueError("timeouts must be positive and max_response_bytes not negative")


class UrlRefused(Exception):
    """A webhook URL the policy does not admit; ``detail`` is safe to show the partner.

    ``reason`` is :func:`forbidden_reason`'s word when an address was the problem, else None.
    """

    def __init__(self, code: str, detail: str, reason: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to say (host, request target)."""

    url: str
    scheme: str
    host: str  # lowercase name, or the canonical IP text (IPv6 without brackets)
    port: int
    request_target: str
    address: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


# --- addresses ----------------------------------------------------------------------------------

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
_V4_RULES: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "unspecified"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("169.254.0.0/16"), "link_local"),
    (_V4("100.64.0.0/10"), "cgnat"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)
_V6_RULES: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("fe80::/10"), "link_local"),
    (_V6("fc00::/7"), "private"),
    (_V6("fec0::/10"), "site_local"),
    (_V6("ff00::/8"), "multicast"),
)
_IPV4_COMPATIBLE = _V6("::/96")
_IPV4_TRANSLATED = _V6("::ffff:0:0:0/96")
_NAT64_WELL_KNOWN = _V6("64:ff9b::/96")
_NAT64_LOCAL_USE = _V6("64:ff9b:1::/48")


_READABLE_REASONS = {
    "unspecified": "an unspecified address", "loopback": "a loopback address",
    "private": "a private-network address", "link_local": "a link-local address",
    "site_local": "a site-local address", "cgnat": "a carrier-grade NAT address",
    "multicast": "a multicast address", "reserved": "a reserved address",
    "not_global": "not a globally reachable address",
}


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why a webhook may not be sent to ``ip`` ("loopback", "private", ...), or None if public."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_reason(ip)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    embedded = _embedded_ipv4(ip)
    if embedded:
        # the packets end up at these IPv4 addresses, so they decide
        reasons = [r for r in map(_ipv4_reason, embedded) if r]
        if reasons:
            return reasons[0]
        # a local-use translation prefix (RFC 8215) only exists inside some operator's network
        return "not_global" if ip in _NAT64_LOCAL_USE else None
    for network, reason in _V6_RULES:
        if ip in network:
            return reason
    if ip.is_reserved:
        return "reserved"
    return None if ip.is_global else "not_global"


def _ipv4_reason(ip: ipaddress.IPv4Address) -> str | None:
    for network, reason in _V4_RULES:
        if ip in network:
            return reason
    # documentation, benchmarking, protocol-assignment ranges...
    return None if ip.is_global else "not_global"


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED or ip in _NAT64_WELL_KNOWN:
        return [low32]
    if ip in _NAT64_LOCAL_USE:
        return [low32]  # the /96 layout (RFC 6052), the usual deployment
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [client, server]
    return []


# --- URLs ---------------------------------------------------------------------------------------

# RFC 3986 characters; urlsplit would silently drop tabs and newlines, and other parsers read
# backslashes or spaces differently, so anything else is refused before parsing
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_HOST_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def check_url(url: str, policy: Policy) -> Target:
    """Admit ``url`` for webhooks, or raise :class:`UrlRefused` with a stable code."""
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"The URL is longer than {MAX_URL_LENGTH} characters.")
    if not _URL_CHARACTERS.fullmatch(url):
        raise _invalid("The URL contains spaces, control or non-ASCII characters; percent-encode them "
                       "(and write an internationalised host name in punycode).")
    if "#" in url:
        raise _invalid("The URL must not have a fragment (#...).")
    try:
        parts = urlsplit(url)
    except ValueError:  # unbalanced or invalid brackets
        raise _invalid("The URL's host is not a valid IPv6 address.") from None
    if not parts.scheme or not parts.netloc:
        raise _invalid("The URL must be absolute, like https://partner.example/webhooks.")
    if "@" in parts.netloc:
        raise _invalid("The URL must not contain a user name or password.")
    host, explicit_port, literal = _split_authority(parts.netloc)
    scheme = parts.scheme.lower()
    allowlisted = host in policy.allowlist
    if scheme != "https" and not (allowlisted and scheme == "http"):
        raise UrlRefused("WEBHOOK_URL_NOT_HTTPS", "Webhook URLs must use https.")
    port = explicit_port if explicit_port is not None else _DEFAULT_PORTS[scheme]
    if port != 443 and not allowlisted:
        raise UrlRefused("WEBHOOK_URL_PORT_NOT_ALLOWED", "Webhook URLs must use port 443.")
    addresses = [literal] if literal is not None else _resolve(host, port, policy)
    if not allowlisted:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason:
                what = _READABLE_REASONS.get(reason, "not a public address")
                where = (f"{host} resolves to {address}, which is" if literal is None
                         else f"The URL's host {address} is")
                raise UrlRefused("WEBHOOK_URL_FORBIDDEN_ADDRESS", f"{where} {what}; webhooks are "
                                 "only sent to public internet addresses.", reason)
    request_target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url=url, scheme=scheme, host=host, port=port, request_target=request_target,
                  address=str(addresses[0]))


def _invalid(detail: str) -> UrlRefused:
    return UrlRefused("WEBHOOK_URL_INVALID", detail)


def _split_authority(netloc: str) -> tuple[str, int | None, IPAddress | None]:
    """(host, explicit port, the IP when the host is a literal) of ``host[:port]``."""
    if netloc.startswith("["):
        inside, bracket, rest = netloc[1:].partition("]")
        if not bracket:
            raise _invalid("The URL's IPv6 address is missing its closing bracket.")
        if "%" in inside:
            raise _invalid("IPv6 zone identifiers are not allowed in webhook URLs.")
        try:
            ip6 = ipaddress.IPv6Address(inside)
        except ValueError:
            raise _invalid("The URL's host is not a valid IPv6 address.") from None
        return str(ip6), _parse_port(rest), ip6
    host, colon, port_text = netloc.partition(":")
    port = _parse_port(colon + port_text)
    host = host.lower()
    host = host.removesuffix(".")  # the fully qualified spelling of the same name
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        # a host ending in a number is an IPv4 address (WHATWG URL); if it is not a valid one,
        # a resolver could still read it as one, so it is refused rather than looked up
        ip4 = parse_ipv4(host)
        if ip4 is None:
            raise _invalid("The URL's host looks like an IPv4 address but is not a valid one.")
        return str(ip4), port, ip4
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise _invalid("The URL's host is not a valid host name.")
    return host, port, None


def _parse_port(text: str) -> int | None:
    if not text:
        return None
    digits = text[1:]
    if text[0] != ":" or not digits.isascii() or not digits.isdigit() or len(digits) > 5 \
            or not 0 < int(digits) <= 65535:
        raise _invalid("The URL's port is not a number between 1 and 65535.")
    return int(digits)


def parse_ipv4(text: str) -> ipaddress.IPv4Address | None:
    """``text`` read the way ``inet_aton`` reads it (``127.1``, ``0x7f000001``, ``0177.0.0.1``,
    ``2130706433``), or None if it is no IPv4 address in any of those spellings."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        if re.fullmatch(r"0x[0-9a-f]+", part, re.IGNORECASE):
            numbers.append(int(part, 16))
        elif re.fullmatch(r"0[0-7]*", part):
            numbers.append(int(part, 8))
        elif re.fullmatch(r"[1-9][0-9]*", part):
            numbers.append(int(part))
        else:
            return None
    *leading, last = numbers
    # the last part fills every byte the leading parts did not
    if any(n > 255 for n in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = last
    for index, n in enumerate(leading):
        value |= n << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _resolve(host: str, port: int, policy: Policy) -> list[IPAddress]:
    try:
        answers = policy.resolver(host, port)
    except (OSError, UnicodeError):
        answers = []
    addresses = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(answer))
        except ValueError:
            raise UrlRefused("WEBHOOK_URL_UNRESOLVABLE", f"{host} resolves to something that is not "
                             "an IP address.") from None
    if not addresses:
        raise UrlRefused("WEBHOOK_URL_UNRESOLVABLE", f"{host} does not resolve to any address.")
    return addresses


def _canonical_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host.removeprefix("[").removesuffix("]")))
    except ValueError:
        return host


# --- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one POST attempt came to. ``error`` is None exactly when a 2xx arrived in full."""

    status: int | None
    error: str | None
    latency_ms: int
    retry_after: float | None = None
    body_prefix: bytes = field(default=b"", repr=False)  # for the URL challenge only; never shown

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None


class _DeadlinePassed(TimeoutError):
    pass


class _Deadline:
    """The wall-clock limit of one attempt.

    Socket timeouts restart with every byte received, so a partner sending one byte a second
    during the TLS handshake or the headers could hold a worker for hours. When the deadline
    passes, the connection's socket is shut down from a timer thread, which wakes whatever read
    is blocked. The timer holds a duplicate descriptor, so it never touches a socket that was
    closed and reused meanwhile.
    """

    def __init__(self, seconds: float) -> None:
        self._expires_at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._expired = False
        self._finished = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() >= self._expires_at

    def remaining(self) -> float:
        """Seconds left; raises (as a timeout) when there are none."""
        left = self._expires_at - time.monotonic()
        if left <= 0 or self._expired:
            raise _DeadlinePassed()
        return left

    def guard(self, sock: socket.socket) -> None:
        with self._lock:
            if self._finished:
                return
            self._socket = sock.dup()
            if self._expired:
                self._shutdown()

    def finish(self) -> None:
        with self._lock:
            self._finished = True
            self._timer.cancel()
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def _expire(self) -> None:
        with self._lock:
            if self._finished:
                return
            self._expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._socket is not None:
            try:
                self._socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already gone


class _GuardedHTTPConnection(HTTPConnection):
    """Hands its TCP socket to the attempt's deadline as soon as the socket exists."""

    def __init__(self, *args, deadline: _Deadline, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # for https: the plain TCP socket, before the handshake
        self.deadline.guard(sock)
        return sock


class _GuardedHTTPSConnection(_GuardedHTTPConnection, HTTPSConnection):
    pass


def post(url: str, body: bytes, headers: Mapping[str, str], policy: Policy) -> Outcome:
    """POST ``body`` to ``url`` once, under ``policy``. Never raises for network trouble."""
    try:
        target = check_url(url, policy)  # again: the name may point somewhere internal by now
    except UrlRefused:
        return Outcome(status=None, error="refused_address", latency_ms=0)
    started = time.monotonic()
    deadline = _Deadline(policy.total_timeout)
    try:
        status, error, retry_after, body_prefix = _attempt(target, body, headers, policy, deadline)
    finally:
        deadline.finish()
    latency_ms = round((time.monotonic() - started) * 1000)
    return Outcome(status=status, error=error, latency_ms=latency_ms, retry_after=retry_after,
                   body_prefix=body_prefix)


def _attempt(target: Target, body: bytes, headers: Mapping[str, str], policy: Policy,
             deadline: _Deadline) -> tuple[int | None, str | None, float | None, bytes]:
    """(status, error, retry_after, body_prefix) of one request on a connection of its own."""
    connection = _connection(target, policy, deadline)
    response: BaseHTTPResponse | None = None
    try:
        connection.connect()
        # http.client lets go of the socket once a response says "Connection: close"; the
        # body is still read through it, so keep our own handle to set its timeout
        sock = connection.sock
        connection.timeout = deadline.remaining()
        connection.request("POST", target.request_target, body=body,
                           headers=_request_headers(target, headers),
                           preload_content=False, decode_content=False)
        connection.timeout = deadline.remaining()
        response = connection.getresponse()
        if deadline.expired:  # the headers were cut short by the deadline, not ended by the partner
            return None, "timeout", None, b""
        status = response.status
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if 300 <= status < 400:
            return status, "redirect_not_followed", retry_after, b""
        if not 200 <= status < 300:
            return status, "http_status", retry_after, b""
        body_prefix, error = _read_body(response, sock, deadline, policy.max_response_bytes)
        return status, error, retry_after, body_prefix
    except (OSError, HTTPException, urllib3.exceptions.HTTPError, CertificateError) as failure:
        return (response.status if response is not None else None,
                _failure_code(failure, deadline), None, b"")
    finally:
        if response is not None:
            response.close()
        connection.close()


def _connection(target: Target, policy: Policy, deadline: _Deadline) -> HTTPConnection:
    connect_timeout = min(policy.connect_timeout, policy.total_timeout)
    if target.scheme == "http":
        return _GuardedHTTPConnection(target.address, target.port, timeout=connect_timeout,
                                      deadline=deadline)
    # connect to the checked address, but speak TLS to (and verify the certificate of) the name
    return _GuardedHTTPSConnection(
        target.address, target.port, timeout=connect_timeout, deadline=deadline,
        server_hostname=target.host, assert_hostname=target.host, cert_reqs="CERT_REQUIRED",
        ca_certs=policy.trusted_ca_file or _public_ca_bundle(),
    )


def _public_ca_bundle() -> str | None:
    """certifi's bundle when installed; None lets urllib3 use the system trust store."""
    try:
        import certifi
    except ImportError:  # pragma: no cover
        return None
    return certifi.where()


def _request_headers(target: Target, headers: Mapping[str, str]) -> dict[str, str]:
    sent = {name: value for name, value in headers.items() if name.lower() != "host"}
    sent["Host"] = target.host_header  # the connection is to an IP; the request is for the name
    if not any(name.lower() == "connection" for name in sent):
        sent["Connection"] = "close"
    return sent


def _read_body(response: BaseHTTPResponse, sock: socket.socket | None, deadline: _Deadline,
               limit: int) -> tuple[bytes, str | None]:
    """Up to ``limit`` bytes of a response body, read in small steps against the deadline."""
    declared = response.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        return b"", "response_too_large"
    prefix = bytearray()
    received = 0
    while True:
        remaining = deadline.remaining()
        if sock is not None:
            try:
                sock.settimeout(remaining)
            except OSError:
                pass  # closed by http.client at the end of the body; read1 says so next
        # read1 returns what has arrived rather than waiting for a whole chunk
        data = response.read1(min(_READ_CHUNK, limit + 1 - received), decode_content=False)
        if not data:
            return bytes(prefix), None
        received += len(data)
        if len(prefix) < BODY_PREFIX_BYTES:
            prefix += data[: BODY_PREFIX_BYTES - len(prefix)]
        if received > limit:
            return bytes(prefix), "response_too_large"


def _failure_code(failure: BaseException, deadline: _Deadline) -> str:
    if deadline.expired:
        return "timeout"
    if isinstance(failure, urllib3.exceptions.NewConnectionError):
        return "connection_failed"
    if isinstance(failure, (TimeoutError, urllib3.exceptions.TimeoutError)):
        return "timeout"
    if isinstance(failure, (ssl.SSLError, CertificateError, urllib3.exceptions.SSLError)):
        return "tls_error"
    return "connection_failed"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date), else None."""
    if value is None:
        return None
    value = value.strip()
    if re.fullmatch(r"[0-9]{1,12}", value):
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # "-0000": UTC, as HTTP-dates always are
        moment = moment.replace(tzinfo=utcnow().tzinfo)
    return max(0.0, (moment - utcnow()).total_seconds())


__all__ = [
    "Outcome", "Policy", "StaticResolver", "Target", "UrlRefused", "check_url", "forbidden_reason",
    "parse_ipv4", "parse_retry_after", "post", "system_resolver",
]
