"""Which endpoint URLs are accepted: one line saying what is wrong with a bad one, and for a good
one the host and port requests will connect to."""

from __future__ import annotations

import pytest
import requests
from hypothesis import example, given
from hypothesis import strategies as st
from urllib3.util import parse_url

from dispatcher.errors import DispatcherError
from dispatcher.urls import DEFAULT_PORTS, Destination, check_url, destination
from tests.factories import ODD_URLS

PORT_RANGE = "the port must be a number from 1 to 65535"
CONTROL = "it contains a space or a control character"
ESCAPE = "a % must start an escape of two hex digits"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com:99999/", PORT_RANGE),
        ("http://example.com:abc/", PORT_RANGE),
        ("http://example.com:0/", PORT_RANGE),
        ("http://example.com:+80/", PORT_RANGE),
        ("http://[::1]:65536/", PORT_RANGE),
        ("https://[::1", "the IPv6 address has no closing ]"),
        ("http://[::g]/", "'::g' is not an IPv6 address"),
        ("http://[::ffff:1.2.3.400]/", "'::ffff:1.2.3.400' is not an IPv6 address"),  # urllib3 lets it through
        ("http://[::1]x/", "only a :port may follow the ] of an IPv6 address"),
        ("http://::1/hook", "an IPv6 address goes in brackets"),
        ("http://exa mple.com/", CONTROL),
        ("http://ex\\tample.com/", "it contains a backslash (in a path, write it as %5C)"),
        ("http://example.com/a\\b", "it contains a backslash (in a path, write it as %5C)"),
        ("http://example.com/a b", CONTROL),
        ("http://example.com/\n", CONTROL),
        (" http://example.com/", CONTROL),
        ("http://ex\x00ample.com/", CONTROL),
        ("http://ex%zzample.com/", ESCAPE),
        ("http://example.com/100%", ESCAPE),
        ("http://exa%20mple.com/", "the host 'exa%20mple.com' may only have letters, digits, '-', '_' and '.'"),
        ("http://*.example.com/", "the host '*.example.com' may only have letters, digits, '-', '_' and '.'"),
        ("http://a..b.example/", "the host 'a..b.example' has an empty part"),
        ("http://☃.example/", "the host is not a valid international domain name"),
        ("http://256.1.1.1/", "'256.1.1.1' is not an IPv4 address"),
        ("http://127.1/", "'127.1' is not an IPv4 address"),
        ("ftp://example.com/", "use an http:// or https:// URL with a host"),
        ("example.com/hook", "use an http:// or https:// URL with a host"),
        ("https:///hook", "use an http:// or https:// URL with a host"),
    ],
)
def test_a_bad_url_is_refused_in_one_line_saying_why(url: str, why: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        check_url(url)
    assert str(caught.value).startswith(f"invalid URL {url!r}: {why}")
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_refusal_does_not_show_the_password_in_the_url() -> None:
    with pytest.raises(DispatcherError) as caught:
        check_url("https://crm:pa55word@crm.example:99999/hook")
    assert str(caught.value) == f"invalid URL 'https://crm.example:99999/hook': {PORT_RANGE}"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/hook", Destination("https", "example.com", 443)),
        ("HTTP://Hooks.Example.COM:8080/a%20b?x=1#top", Destination("http", "hooks.example.com", 8080)),
        ("http://[::1]:8080/hook", Destination("http", "::1", 8080)),
        ("https://[2001:db8::1]/", Destination("https", "2001:db8::1", 443)),
        ("http://[fe80::1%25eth0]:80/", Destination("http", "fe80::1%eth0", 80)),
        ("http://192.0.2.1:65535", Destination("http", "192.0.2.1", 65535)),
        ("https://bücher.example/hook", Destination("https", "xn--bcher-kva.example", 443)),  # as requests sends it
        ("https://user:p%40ss@example.com/", Destination("https", "example.com", 443)),
        ("https://token@[2001:db8::2]:8443/in", Destination("https", "2001:db8::2", 8443)),
        ("http://hooks.example.com./", Destination("http", "hooks.example.com.", 80)),
        ("http://intra_net.example:/", Destination("http", "intra_net.example", 80)),
    ],
)
def test_a_good_url_is_kept_as_given_and_read_as_requests_reads_it(url: str, expected: Destination) -> None:
    assert check_url(url) == url
    assert destination(url) == expected


@given(st.one_of(ODD_URLS, st.text(max_size=40)))
@example("http://[::ffff:1.2.3.400]/")
@example("http://example.com:0/")
def test_an_accepted_url_is_one_requests_sends_to_the_same_host_and_port(url: str) -> None:
    try:
        where = destination(url)
    except DispatcherError as error:
        assert str(error).startswith("invalid URL ") and "\n" not in str(error)
        return
    prepared = parse_url(str(requests.Request("POST", url).prepare().url))
    assert (prepared.scheme, (prepared.host or "").strip("[]")) == (where.scheme, where.host)
    assert (prepared.port or DEFAULT_PORTS[where.scheme]) == where.port
