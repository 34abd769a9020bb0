"""Every parser of user input, fuzzed: it returns a value that obeys its rule, or refuses with
DispatcherError (which the CLI prints as one line); no other exception ever escapes."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from dispatcher import config
from dispatcher.config import KEYS
from dispatcher.durations import format_duration, parse_duration
from dispatcher.errors import DispatcherError
from dispatcher.payloads import payload_text
from dispatcher.recovery import parse_time
from dispatcher.retry import parse_policy
from dispatcher.sending.reach import parse_networks
from dispatcher.sending.request import parse_header
from dispatcher.sending.sender import parse_retry_after
from dispatcher.store import Store, open_store

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
# Text near what people type, and anything at all.
NEAR = st.text(alphabet="0123456789.,:;-+ eEsmhdwxyzunfia\t/", max_size=24)
ANY = st.text(max_size=64)


@given(st.one_of(NEAR, ANY))
@example("1e400s")
@example("nan s")
@example("99999999999999999999d")
@example("0.0011")
def test_durations(text: str) -> None:
    try:
        seconds = parse_duration(text)
    except DispatcherError:
        return
    assert math.isfinite(seconds) and seconds >= 0
    assert parse_duration(format_duration(seconds)) == seconds


@given(
    st.one_of(
        st.builds(
            lambda kind, rest: f"{kind}:{rest}", st.sampled_from(["schedule", "exponential", "fixed", "x"]), NEAR
        ),
        ANY,
    )
)
@example("exponential:1s:1e308")
@example("schedule:")
@example("fixed:0s")
def test_retry_policies(spec: str) -> None:
    try:
        policy = parse_policy(spec)
    except DispatcherError:
        return
    assert parse_policy(policy.spec()) == policy
    for failures in (1, 2, 50, 10_000):
        delay = policy.delay(failures)
        assert math.isfinite(delay) and delay >= 0


@given(st.one_of(st.builds(lambda name, value: f"{name}:{value}", ANY, ANY), ANY))
@example("X-A: b\r\nInjected: yes")
@example("X-A: \x85")
def test_header_options(text: str) -> None:
    try:
        name, value = parse_header(text)
    except DispatcherError:
        return
    assert name and all(33 <= ord(char) < 127 and char != ":" for char in name)
    assert value.isascii() and "\r" not in value and "\n" not in value


@given(
    st.one_of(
        ANY,
        st.binary(max_size=64),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
            max_leaves=12,
        ),
    )
)
@example('{"a": NaN}')
@example(b"\xff\xfe")
@example('"\\ud800"')
def test_payloads(payload: object) -> None:
    try:
        text = payload_text(payload)
    except DispatcherError:
        return
    parsed = json.loads(text)  # RFC 8259, an object or an array, encodable as UTF-8
    assert isinstance(parsed, (dict, list))
    text.encode("utf-8")


@pytest.fixture(scope="module")
def config_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One database for every example: a setting set over and over, as `config set` does."""
    store = open_store(tmp_path_factory.mktemp("config") / "config.db")
    yield store
    store.close()


@given(st.one_of(NEAR, ANY))
def test_config_values(config_store: Store, text: str) -> None:
    """What `config set` accepts goes through the database, and `config get` shows it in a form that
    means the same (any text: the database keeps what it is given)."""
    for name, key in KEYS.items():
        try:
            value = key.parse(text)
        except DispatcherError:
            continue
        config.set_value(config_store, name, text, NOW)
        if not key.secret:
            assert key.parse(config.in_force(config_store.config())[name]) == value, name


@given(st.one_of(st.text(alphabet="0123456789abcdef:./, ", max_size=40), ANY))
def test_network_lists(text: str) -> None:
    try:
        parse_networks(text)
    except DispatcherError:
        pass


@given(st.one_of(NEAR, ANY))
@example("2026-13-45T99:00:00Z")
@example("64000000000")
def test_times(text: str) -> None:
    try:
        parse_time(text, NOW)
    except DispatcherError:
        pass


@given(st.one_of(st.none(), NEAR, ANY))
@example("Fri, 31 Dec 9999 23:59:59 GMT")
@example("Mon, 01 Jan 0001 00:00:00 GMT")
def test_retry_after_headers(value: str | None) -> None:
    seconds = parse_retry_after(value, NOW)
    assert seconds is None or 0 <= seconds <= 86400
