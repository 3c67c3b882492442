"""The webhook URL policy (no SSRF, SECURITY row 35, goal G12) and the transport that treats a
partner's answer as untrusted (row 38).

The policy tests run with sockets disabled (pytest-socket also blocks getaddrinfo), so a refused
URL provably opened no connection and made no DNS query; names resolve from a StaticResolver.
The transport tests talk only to a local receiver on 127.0.0.1 (pytest-socket enforces that).
"""

from __future__ import annotations

import gzip
import ipaddress
import socket
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import time_machine

from gateway.webhooks.transport import (
    Outcome,
    Policy,
    StaticResolver,
    UrlRefused,
    check_url,
    forbidden_reason,
    parse_ipv4,
    parse_retry_after,
    post,
    system_resolver,
)
from tests.webhooks.receiver import (
    Receiver,
    Reply,
    tls_certificate,
    tls_server_context,
    unused_port,
)

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:4700:4700::1111"
LOCAL_ONLY = pytest.mark.allow_hosts(["127.0.0.1"])


def production_policy(**names: list[str]) -> Policy:
    """The production rules (no allow-list) with a fixed table instead of DNS."""
    return Policy(resolver=StaticResolver({name.replace("_", "."): a for name, a in names.items()}))


def local_policy(**overrides) -> Policy:
    """Admits the local receiver (http, any port), like the test allow-list does."""
    return Policy(**{"allowlist": frozenset({"127.0.0.1"}), "resolver": StaticResolver(), **overrides})


# --- the SSRF table ------------------------------------------------------------------------------

FORBIDDEN_URLS = [
    # IPv4 loopback in every spelling inet_aton reads
    ("https://127.0.0.1/", "loopback"),
    ("https://127.1/", "loopback"),
    ("https://2130706433/", "loopback"),
    ("https://0x7f000001/", "loopback"),
    ("https://0X7F.1/", "loopback"),
    ("https://0177.0.0.1/", "loopback"),
    ("https://017700000001/", "loopback"),
    ("https://127.0.0.1./", "loopback"),
    ("https://127.0.0.1:443/", "loopback"),
    # IPv6 literals and IPv4 hidden inside IPv6
    ("https://[::1]/", "loopback"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://[::ffff:7f00:1]/", "loopback"),
    ("https://[::127.0.0.1]/", "loopback"),  # IPv4-compatible
    ("https://[64:ff9b::127.0.0.1]/", "loopback"),  # NAT64, well-known prefix
    ("https://[64:ff9b:1::7f00:1]/", "loopback"),  # NAT64, local-use prefix
    ("https://[2002:7f00:1::1]/", "loopback"),  # 6to4
    ("https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "private"),  # Teredo, client 10.0.0.1
    ("https://[::ffff:169.254.169.254]/", "link_local"),
    # private, link-local, shared and special ranges
    ("https://169.254.169.254/latest/meta-data/", "link_local"),
    ("https://10.0.0.1/", "private"),
    ("https://172.16.0.1/", "private"),
    ("https://172.31.255.254/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://100.64.0.1/", "cgnat"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://0/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://[fc00::1]/", "private"),
    ("https://[fd12:3456:789a::1]/", "private"),
    ("https://[fe80::1]/", "link_local"),
    ("https://224.0.0.251/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://240.0.0.1/", "reserved"),
    ("https://255.255.255.255/", "reserved"),
    ("https://192.0.2.10/", "not_global"),  # documentation
    ("https://198.18.0.1/", "not_global"),  # benchmarking
    ("https://[2001:db8::1]/", "not_global"),  # documentation
]


@pytest.mark.disable_socket
@pytest.mark.parametrize(("url", "reason"), FORBIDDEN_URLS)
def test_internal_ip_literals_are_refused_without_a_lookup_or_a_socket(url, reason):
    policy = production_policy()

    with pytest.raises(UrlRefused) as refused:
        check_url(url, policy)

    assert (refused.value.code, refused.value.reason) == ("WEBHOOK_URL_FORBIDDEN_ADDRESS", reason)
    assert "only sent to public internet addresses" in refused.value.detail
    assert post(url, b"{}", {}, policy) == Outcome(status=None, error="refused_address", latency_ms=0)
    assert policy.resolver.lookups == []  # a literal is never a question for DNS


DNS_ANSWERS = [
    (["127.0.0.1"], "loopback"),
    (["10.1.2.3"], "private"),
    (["169.254.169.254"], "link_local"),
    ([PUBLIC_V4, "10.0.0.5"], "private"),  # one bad answer is enough
    ([PUBLIC_V6, "::1"], "loopback"),
    (["::ffff:192.168.0.1"], "private"),
    (["64:ff9b::a00:1"], "private"),
    (["fe80::1%2"], "link_local"),
]


@pytest.mark.disable_socket
@pytest.mark.parametrize(("addresses", "reason"), DNS_ANSWERS)
def test_a_name_is_refused_when_any_of_its_addresses_is_internal(addresses, reason):
    policy = production_policy(hooks_partner_example=addresses)
    url = "https://hooks.partner.example/events"

    with pytest.raises(UrlRefused) as refused:
        check_url(url, policy)

    assert (refused.value.code, refused.value.reason) == ("WEBHOOK_URL_FORBIDDEN_ADDRESS", reason)
    assert refused.value.detail.startswith("hooks.partner.example resolves to ")
    assert post(url, b"{}", {}, policy).error == "refused_address"


MALFORMED_URLS = [
    ("http://partner.example/hooks", "WEBHOOK_URL_NOT_HTTPS"),
    ("HTTP://partner.example/hooks", "WEBHOOK_URL_NOT_HTTPS"),
    ("ftp://partner.example/hooks", "WEBHOOK_URL_NOT_HTTPS"),
    ("javascript:alert(1)", "WEBHOOK_URL_INVALID"),
    ("https://partner.example:8443/hooks", "WEBHOOK_URL_PORT_NOT_ALLOWED"),
    ("https://partner.example:80/hooks", "WEBHOOK_URL_PORT_NOT_ALLOWED"),
    ("https://partner.example:0/hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner.example:99999/hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner.example:/hooks", "WEBHOOK_URL_INVALID"),
    ("https://user:secret@partner.example/hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner.example@127.0.0.1/hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner.example/hooks#section", "WEBHOOK_URL_INVALID"),
    ("https://partner.example/hooks#", "WEBHOOK_URL_INVALID"),
    ("https:///hooks", "WEBHOOK_URL_INVALID"),
    ("//partner.example/hooks", "WEBHOOK_URL_INVALID"),
    ("partner.example/hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner.example\t/hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner.example /hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner.example\n.evil/hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner.example\\@evil.example/", "WEBHOOK_URL_INVALID"),
    ("https://pärtner.example/hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner..example/hooks", "WEBHOOK_URL_INVALID"),
    ("https://-partner.example/hooks", "WEBHOOK_URL_INVALID"),
    ("https://[fe80::1%25eth0]/hooks", "WEBHOOK_URL_INVALID"),
    ("https://[::1/hooks", "WEBHOOK_URL_INVALID"),
    ("https://[v1.fe]/hooks", "WEBHOOK_URL_INVALID"),
    ("https://::1/hooks", "WEBHOOK_URL_INVALID"),
    ("https://1.2.3.4.5/hooks", "WEBHOOK_URL_INVALID"),  # ends in a number, but no address
    ("https://08.0.0.1/hooks", "WEBHOOK_URL_INVALID"),  # not octal
    ("https://partner.0x1/hooks", "WEBHOOK_URL_INVALID"),
    ("https://256.256.256.256/hooks", "WEBHOOK_URL_INVALID"),
    ("https://partner.example/" + "a" * 2048, "WEBHOOK_URL_INVALID"),
    ("https://unknown.example/hooks", "WEBHOOK_URL_UNRESOLVABLE"),
]


@pytest.mark.disable_socket
@pytest.mark.parametrize(("url", "code"), MALFORMED_URLS)
def test_urls_outside_the_policy_are_refused_with_a_stable_code(url, code):
    policy = production_policy(partner_example=[PUBLIC_V4])

    with pytest.raises(UrlRefused) as refused:
        check_url(url, policy)

    assert refused.value.code == code
    assert refused.value.detail
    assert refused.value.reason is None
    assert post(url, b"{}", {}, policy).error == "refused_address"


@pytest.mark.disable_socket
def test_a_public_name_passes_and_the_target_is_its_first_checked_address():
    policy = production_policy(partner_example=[PUBLIC_V4, PUBLIC_V6])

    target = check_url("https://Partner.Example.:443/hooks/orders?tenant=7", policy)

    assert (target.scheme, target.host, target.port) == ("https", "partner.example", 443)
    assert target.request_target == "/hooks/orders?tenant=7"
    assert target.address == PUBLIC_V4
    assert target.url == "https://Partner.Example.:443/hooks/orders?tenant=7"
    assert check_url("https://partner.example", policy).request_target == "/"


@pytest.mark.disable_socket
@pytest.mark.parametrize(("url", "address"), [
    (f"https://{PUBLIC_V4}/hooks", PUBLIC_V4),
    ("https://0x5db8d822/hooks", PUBLIC_V4),  # the same address in hex
    (f"https://[{PUBLIC_V6}]/hooks", PUBLIC_V6),
    ("https://[::ffff:93.184.216.34]/hooks", "::ffff:5db8:d822"),  # judged by the IPv4 inside
])
def test_public_ip_literals_pass(url, address):
    assert check_url(url, production_policy()).address == address


@pytest.mark.disable_socket
def test_a_delivery_rechecks_the_name_and_refuses_once_it_points_inside():
    resolver = StaticResolver({"partner.example": [PUBLIC_V4]})
    policy = Policy(resolver=resolver)
    assert check_url("https://partner.example/hooks", policy).address == PUBLIC_V4

    resolver.add("partner.example", "127.0.0.1")  # DNS rebinding after registration
    outcome = post("https://partner.example/hooks", b"{}", {}, policy)

    assert outcome.error == "refused_address"
    assert not outcome.ok
    assert len(resolver.lookups) == 2


# --- the address rule itself ---------------------------------------------------------------------


@pytest.mark.parametrize(("address", "reason"), [
    ("127.255.255.254", "loopback"), ("10.255.0.1", "private"), ("172.20.0.1", "private"),
    ("192.168.255.255", "private"), ("169.254.0.1", "link_local"), ("100.127.255.254", "cgnat"),
    ("0.1.2.3", "unspecified"), ("239.255.255.250", "multicast"), ("203.0.113.9", "not_global"),
    ("::1", "loopback"), ("::", "unspecified"), ("fdff::1", "private"), ("febf::1", "link_local"),
    ("fec0::1", "site_local"), ("ff05::2", "multicast"), ("::ffff:10.0.0.1", "private"),
    ("::ffff:0:127.0.0.1", "loopback"), ("64:ff9b::100.64.0.1", "cgnat"),
    ("2002:a9fe:a9fe::", "link_local"), ("64:ff9b:1::808:808", "not_global"),
])
def test_forbidden_reason_names_the_range(address, reason):
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", [
    PUBLIC_V4, "8.8.8.8", "1.1.1.1", PUBLIC_V6, "2a00:1450:4001:800::200e", "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8", "2002:808:808::1", "172.32.0.1", "100.128.0.1", "192.169.0.1",
])
def test_public_addresses_have_no_forbidden_reason(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("text", [
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0X7F000001", "0x7f.1",
    "0177.0.0.1", "0177.1", "017700000001", "0", "00", "0x0", "4294967295", "4294967296",
    "0xffffffff", "0x100000000", "037777777777", "040000000000", "1.256", "1.16777215",
    "1.16777216", "1.2.65535", "1.2.65536", "256.0.0.1", "1.2.3.4.5", "08.0.0.1", "0x", "0x.1",
    "1..1", ".1", "1.", "0xg", "1e3", "-1", "+1",
])
def test_parse_ipv4_reads_what_inet_aton_reads(text):
    try:
        expected = socket.inet_aton(text)
    except OSError:
        expected = None
    parsed = parse_ipv4(text)
    assert (parsed.packed if parsed else None) == expected


def test_the_allowlist_admits_local_hosts_however_they_are_spelled():
    policy = Policy(allowlist=frozenset({"[::1]", "LocalHost.", "127.0.0.1"}),
                    resolver=StaticResolver({"localhost": ["127.0.0.1"]}))

    assert check_url("http://[::1]:8080/hooks", policy).address == "::1"
    assert check_url("http://localhost:8080/hooks", policy).address == "127.0.0.1"
    assert check_url("https://127.1:9443/hooks", policy).port == 9443
    with pytest.raises(UrlRefused) as refused:
        check_url("http://127.0.0.2:8080/hooks", policy)  # not listed: the production rules apply
    assert refused.value.code == "WEBHOOK_URL_NOT_HTTPS"
    with pytest.raises(UrlRefused) as refused:
        check_url("gopher://localhost:8080/hooks", policy)
    assert refused.value.code == "WEBHOOK_URL_NOT_HTTPS"


def test_system_resolver_answers_each_address_once_in_order(monkeypatch):
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_V4, 443)),
               (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (PUBLIC_V6, 443, 0, 0)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC_V4, 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    assert system_resolver("partner.example", 443) == [PUBLIC_V4, PUBLIC_V6]

    def no_such_name(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)
    assert system_resolver("nowhere.example", 443) == []


# --- Retry-After -----------------------------------------------------------------------------------


@time_machine.travel(datetime(2026, 3, 1, 12, 0, tzinfo=UTC), tick=False)
@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), (" 0 ", 0.0), ("Sun, 01 Mar 2026 12:01:30 GMT", 90.0),
    ("Sunday, 01-Mar-26 12:00:10 GMT", 10.0), ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),
    ("-5", None), ("1.5", None), ("soon", None), ("", None), (None, None),
    ("9" * 400, None),
])
def test_retry_after_is_read_as_seconds_or_an_http_date(value, seconds):
    assert parse_retry_after(value) == seconds


# --- talking to a partner (a local receiver) ---------------------------------------------------------


@LOCAL_ONLY
def test_a_2xx_is_ok_and_the_partner_gets_exactly_our_bytes_and_headers():
    body = b'{"type":"poi.updated","data":{"name":"\xe5\xb8\x82\xe4\xba\x95"}}\r\n\x00'
    headers = {"Content-Type": "application/json", "webhook-id": "msg_2Kx",
               "webhook-timestamp": "1767225600", "webhook-signature": "v1,abc= v1,def=",
               "User-Agent": "Shijing-Webhooks/1.0"}
    with Receiver([Reply(204)]) as receiver:
        outcome = post(receiver.url + "/hooks/orders?tenant=7", body, headers, local_policy())
        [request] = receiver.requests

    assert outcome.ok
    assert (outcome.status, outcome.error, outcome.retry_after) == (204, None, None)
    assert outcome.latency_ms >= 0
    assert (request.method, request.path, request.body) == ("POST", "/hooks/orders?tenant=7", body)
    assert {name: request.headers[name] for name in headers} == headers
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["Content-Length"] == str(len(body))


@LOCAL_ONLY
def test_the_answer_body_is_kept_only_as_a_short_prefix():
    answer = bytes(range(256)) * 40  # 10 KB
    with Receiver([Reply(200, body=answer)]) as receiver:
        outcome = post(receiver.url + "/hooks", b"{}", {}, local_policy())

    assert outcome.ok
    assert outcome.body_prefix == answer[:4096]


@LOCAL_ONLY
def test_a_compressed_answer_is_not_inflated():
    bomb = gzip.compress(b"\0" * 5_000_000)  # 5 MB of zeros in a few KB
    with Receiver([Reply(200, headers={"Content-Encoding": "gzip"}, body=bomb)]) as receiver:
        outcome = post(receiver.url + "/hooks", b"{}", {}, local_policy())

    assert outcome.ok
    assert outcome.body_prefix == bomb[:4096]


@LOCAL_ONLY
@pytest.mark.parametrize("status", [400, 404, 410, 429, 500, 503])
def test_a_non_2xx_is_an_http_status_error(status):
    with Receiver([Reply(status, body=b"<html>internal error page</html>")]) as receiver:
        outcome = post(receiver.url + "/hooks", b"{}", {}, local_policy())

    assert (outcome.status, outcome.error, outcome.ok) == (status, "http_status", False)
    assert outcome.body_prefix == b""  # nobody reads what a failing partner says


@LOCAL_ONLY
@pytest.mark.parametrize("location", ["http://169.254.169.254/latest/meta-data/", "/hooks/again"])
def test_a_redirect_is_reported_and_never_followed(location):
    with Receiver([Reply(302, headers={"Location": location})], default=Reply(200)) as receiver:
        outcome = post(receiver.url + "/hooks", b"{}", {}, local_policy())
        time.sleep(0.2)  # room for a second request, if one were on its way
        requests = receiver.requests

    assert (outcome.status, outcome.error, outcome.ok) == (302, "redirect_not_followed", False)
    assert [r.path for r in requests] == ["/hooks"]


@LOCAL_ONLY
def test_retry_after_is_passed_on_in_seconds():
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=600), usegmt=True)
    with Receiver([Reply(429, headers={"Retry-After": "30"}),
                   Reply(503, headers={"Retry-After": later})]) as receiver:
        throttled = post(receiver.url + "/hooks", b"{}", {}, local_policy())
        unavailable = post(receiver.url + "/hooks", b"{}", {}, local_policy())

    assert (throttled.status, throttled.retry_after) == (429, 30.0)
    assert unavailable.status == 503
    assert 590 <= unavailable.retry_after <= 600


@LOCAL_ONLY
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_huge_answer_is_cut_off(chunked):
    huge = b"x" * (10 * 1024 * 1024)
    with Receiver([Reply(200, body=huge, chunked=chunked), Reply(200)]) as receiver:
        outcome = post(receiver.url + "/hooks", b"{}", {}, local_policy(total_timeout=10))
        after = post(receiver.url + "/hooks", b"{}", {}, local_policy())

    # stopped by the size limit, long before the time limit could
    assert (outcome.status, outcome.error, outcome.ok) == (200, "response_too_large", False)
    assert len(outcome.body_prefix) <= 4096
    assert after.ok  # and the receiver, like us, is fine


@LOCAL_ONLY
@pytest.mark.parametrize(("size", "error"), [(10, None), (11, "response_too_large")])
def test_the_size_limit_is_exact(size, error):
    with Receiver([Reply(200, body=b"a" * size, chunked=True)]) as receiver:
        outcome = post(receiver.url + "/hooks", b"{}", {}, local_policy(max_response_bytes=10))

    assert outcome.error == error


SLOW_PARTNERS = {
    # a 200 whose body comes one byte every 50 ms (50 s in all)
    "dribbled body": (Reply(200, body=b"x" * 1000, chunk_size=1, chunk_interval=0.05), 200),
    # headers that never end: each byte resets a socket timeout, only a deadline stops this
    "dribbled headers": (Reply(raw=b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000, chunk_size=1,
                               chunk_interval=0.05), None),
    "silence": (Reply(200, delay=30), None),
}


@LOCAL_ONLY
@pytest.mark.parametrize(("reply", "status"), SLOW_PARTNERS.values(), ids=SLOW_PARTNERS.keys())
def test_a_slow_partner_times_out_at_the_total_timeout(reply, status):
    with Receiver([reply]) as receiver:
        started = time.monotonic()
        outcome = post(receiver.url + "/hooks", b"{}", {}, local_policy(total_timeout=1.5))
        elapsed = time.monotonic() - started

    assert (outcome.status, outcome.error) == (status, "timeout")
    assert not outcome.ok
    assert 1.5 <= elapsed < 2.5
    assert 1500 <= outcome.latency_ms < 2500


@LOCAL_ONLY
def test_a_closed_port_is_a_connection_failure():
    url = f"http://127.0.0.1:{unused_port()}/hooks"

    outcome = post(url, b"{}", {}, local_policy())

    assert (outcome.status, outcome.error, outcome.ok) == (None, "connection_failed", False)


@LOCAL_ONLY
def test_the_connection_goes_to_the_checked_address_with_the_name_in_the_host_header():
    resolver = StaticResolver({"partner.test": ["127.0.0.1"]})
    policy = Policy(allowlist=frozenset({"partner.test"}), resolver=resolver)
    with Receiver() as receiver:
        url = f"http://partner.test:{receiver.port}/hooks"
        outcome = post(url, b"{}", {"Host": "evil.example"}, policy)
        [request] = receiver.requests

    assert outcome.ok
    assert request.headers.get_all("Host") == [f"partner.test:{receiver.port}"]
    assert resolver.lookups == [("partner.test", receiver.port)]  # the check's, and no other


# --- TLS: connect to the address, verify the name ---------------------------------------------------


@pytest.fixture(scope="module")
def partner_certificate(tmp_path_factory):
    return tls_certificate(tmp_path_factory.mktemp("tls"), "partner.test", "localhost")


def tls_policy(ca_file, name="partner.test") -> Policy:
    return Policy(allowlist=frozenset({name}), resolver=StaticResolver({name: ["127.0.0.1"]}),
                  trusted_ca_file=str(ca_file) if ca_file else None)


@LOCAL_ONLY
@pytest.mark.parametrize("name", ["partner.test", "localhost"])
def test_https_reaches_the_checked_address_and_verifies_the_url_host(partner_certificate, name):
    certificate, key = partner_certificate
    with Receiver(ssl_context=tls_server_context(certificate, key)) as receiver:
        outcome = post(f"https://{name}:{receiver.port}/hooks", b"{}", {}, tls_policy(certificate, name))
        [request] = receiver.requests

    assert outcome.ok
    assert request.headers["Host"] == f"{name}:{receiver.port}"


@LOCAL_ONLY
def test_https_refuses_a_certificate_for_another_name(partner_certificate, tmp_path):
    certificate, key = tls_certificate(tmp_path, "other.test")
    with Receiver(ssl_context=tls_server_context(certificate, key)) as receiver:
        # trusted CA, but the certificate names other.test (nor is 127.0.0.1 enough)
        outcome = post(f"https://partner.test:{receiver.port}/hooks", b"{}", {},
                       tls_policy(certificate))
        requests = receiver.requests

    assert (outcome.status, outcome.error) == (None, "tls_error")
    assert requests == []


@LOCAL_ONLY
def test_https_refuses_a_certificate_no_public_ca_signed(partner_certificate):
    certificate, key = partner_certificate
    with Receiver(ssl_context=tls_server_context(certificate, key)) as receiver:
        outcome = post(f"https://partner.test:{receiver.port}/hooks", b"{}", {}, tls_policy(None))

    assert (outcome.status, outcome.error) == (None, "tls_error")
