"""Outbound HTTP refuses internal addresses in every spelling, and follows no redirects
(DESIGN.md invariant 8), against a real local HTTP server."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from huifang.integrations.http import BlockedURL, check, is_public, request
from tests.integrations.fakes import running

INTERNAL = [
    "http://127.0.0.1/",
    "http://localhost:8080/hook",
    "http://127.1/",
    "http://0177.0.0.1/",  # octal
    "http://0x7f.0.0.1/",  # hex
    "http://0x7f000001/",
    "http://2130706433/",  # decimal
    "http://017700000001/",
    "http://0/",
    "http://0.0.0.0/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.100.100.200/latest/meta-data/",  # Alibaba Cloud metadata (shared 100.64/10)
    "http://169.254.169.254/latest/meta-data/",  # link-local metadata
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[2002:7f00:1::1]/",  # 6to4 around 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 around 10.0.0.1
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "https://127.0.0.1:443/",
    "http://user:pass@127.0.0.1/",
    "http://127.0.0.1.nip.io.invalid@127.0.0.1/",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_addresses_are_refused_in_every_spelling(url: str) -> None:
    with pytest.raises(BlockedURL):
        check(url, allow=[])


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/", "http:///path", "//x/"]
)
def test_other_schemes_and_hostless_urls_are_refused(url: str) -> None:
    with pytest.raises(BlockedURL):
        check(url, allow=[])


def fake_dns(answers: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    return lambda host, port: answers.get(host, [])


def test_a_name_that_resolves_inside_is_refused_even_if_one_answer_is_public() -> None:
    dns = fake_dns({"hooks.example.com": ["93.184.216.34", "10.1.2.3"]})
    with translation.override("en"), pytest.raises(BlockedURL) as error:
        check("https://hooks.example.com/x", allow=[], resolver=dns)
    assert "10.1.2.3" in str(error.value) and "OUTBOUND_HTTP_ALLOW" in str(error.value)


def test_a_public_name_is_called_at_the_address_that_was_checked() -> None:
    dns = fake_dns({"hooks.example.com": ["93.184.216.34"]})
    target = check("https://hooks.example.com:8443/a?b=1", allow=[], resolver=dns)
    assert (target.address, target.port, target.path) == ("93.184.216.34", 8443, "/a?b=1")


def test_an_unresolvable_name_is_refused() -> None:
    with pytest.raises(BlockedURL):
        check("http://no-such-host.invalid/", allow=[], resolver=fake_dns({}))


def test_an_admin_can_allow_a_host_or_a_network() -> None:
    dns = fake_dns({"sms-gw.corp": ["10.8.1.2"]})
    assert check("http://sms-gw.corp/send", allow=["sms-gw.corp"], resolver=dns).address == (
        "10.8.1.2"
    )
    assert check("http://sms-gw.corp/send", allow=["10.8.0.0/16"], resolver=dns)
    with pytest.raises(BlockedURL):
        check("http://sms-gw.corp/send", allow=["10.9.0.0/16"], resolver=dns)


@given(st.ip_addresses())
def test_only_global_unicast_addresses_pass(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    url = f"http://[{address}]/" if address.version == 6 else f"http://{address}/"
    if is_public(address):
        assert address.is_global and not address.is_multicast
        check(url, allow=[])
    else:
        with pytest.raises(BlockedURL):
            check(url, allow=[])


# -- real requests to a local server (allowed explicitly, as an admin would) -----------------


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        body = json.dumps({"got": payload, "host": self.headers["Host"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with running(httpd):
        yield f"http://127.0.0.1:{httpd.server_address[1]}"


def test_a_local_server_is_refused_unless_allowed(server: str) -> None:
    with pytest.raises(BlockedURL):
        request("POST", server + "/hook", body=b"{}", allow=[])
    answer = request("POST", server + "/hook", body=b'{"a": 1}', allow=["127.0.0.1"])
    assert answer.status == 200
    assert json.loads(answer.body)["got"] == {"a": 1}
    assert json.loads(answer.body)["host"] == server.removeprefix("http://")


def test_redirects_are_not_followed(server: str) -> None:
    answer = request("POST", server + "/redirect", body=b"{}", allow=["127.0.0.1"])
    assert answer.status == 302  # returned as is: the metadata address is never called
