"""Test data built in memory: for the pure modules' tests, and URLs for the fuzz tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import strategies as st

from dispatcher.models import Endpoint, Signing


def make_endpoint(**overrides: Any) -> Endpoint:
    base = Endpoint(
        id=1,
        name=None,
        description=None,
        url="https://example.com/hook",
        secret="s",
        events=("*",),
        enabled=True,
        disabled_reason=None,
        disabled_at=None,
        order=None,
        batch_size=None,
        timeout=None,
        max_attempts=None,
        retry=None,
        max_age=None,
        disable_after=None,
        notify_command=None,
        concurrency=None,
        rate_limit=None,
        format="batch",
        signing=Signing(),
        headers=(),
        success="2xx",
        allow_private=None,
        ca_bundle=None,
        retired_secrets=(),
        consecutive_failures=0,
        last_success_at=None,
        last_error=None,
        created_at="2026-11-22T10:00:00.000Z",
    )
    return replace(base, **overrides)


# URLs as people mistype them: odd schemes, ports, brackets, IPv6 literals good and bad, hosts with
# spaces, escapes, unicode and control characters. A host is an IP address or a name under .invalid,
# so that no URL that is accepted sends a test to DNS: no host character ends the authority early.
_NAME_PIECES = st.one_of(
    st.sampled_from(
        ["a", "b-c", "x_y", "-", "%41", "%2e", "%zz", "%2", "%20", "%2F", "%C3%BC", " ", "\t", "\x00", "\x7f", "\x85",
         "ü", "ß", "☃", "\u3002", "\u200b", "ａ", "xn--", "*", "<", "9" * 64]
    ),
    st.text(st.characters(exclude_characters="/?#@:[]\\"), min_size=1, max_size=3),
)  # fmt: skip
_NAMES = st.lists(st.lists(_NAME_PIECES, max_size=3).map("".join), max_size=3).map(
    lambda labels: ".".join([*labels, "invalid"])
)
_IPV4 = st.one_of(
    st.ip_addresses(v=4).map(str), st.sampled_from(["256.1.1.1", "1.2.3", "127.1", "0x7f.0.0.1", "1.2.3.4."])
)
_IPV6 = st.one_of(
    st.ip_addresses(v=6).map(lambda address: f"[{address}]"),
    st.sampled_from(
        ["[::1", "::1", "[::g]", "[1.2.3.4]", "[::1::2]", "[fe80::1%25eth0]", "[fe80::1%eth0]", "[]", "[::1]x",
         "[::ffff:1.2.3.400]", "[2001:db8::1]", "[v1.x]"]
    ),
)  # fmt: skip
_PORTS = st.one_of(
    st.sampled_from(["", ":", ":0", ":1", ":65535", ":65536", ":99999", ":abc", ":-1", ":+80", ":٣", ":80:80", ": 80"]),
    st.integers(0, 10**6).map(lambda port: f":{port}"),
)
ODD_URLS = st.builds(
    lambda *parts: "".join(parts),
    st.sampled_from(["http://", "https://", "HTTPS://", "ftp://", "http:/", "", "http://user:pw@", "https://u%zz@"]),
    st.one_of(_IPV4, _IPV6, _NAMES),
    _PORTS,
    st.sampled_from(["", "/", "/hook", "/a b", "/%zz", "/%41", "?q=1", "#f", "/\n", "/é", "\\x"]),
)
