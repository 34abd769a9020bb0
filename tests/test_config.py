"""dispatcher.config: built-in defaults, stored config, endpoint overrides, validation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from dispatcher import config
from dispatcher.config import (
    BUILT_IN,
    check_batch_size,
    check_max_attempts,
    check_order,
    check_timeout,
    defaults_from,
    effective,
    key,
)
from dispatcher.errors import DispatcherError
from dispatcher.models import DeliverySettings
from dispatcher.retry import parse_policy
from dispatcher.sending.reach import Reach
from tests.factories import make_endpoint


def settings_with(**values: Any) -> DeliverySettings:
    return replace(BUILT_IN, **values)


def test_built_in_defaults() -> None:
    assert BUILT_IN == DeliverySettings(
        order="asc",
        batch_size=10,
        timeout=15.0,
        max_attempts=8,
        retry=parse_policy("schedule:5s,5m,30m,2h,5h,10h,10h"),
        max_age=None,
        disable_after=20,
        notify_command=None,
        concurrency=1,
        rate_limit=None,
        reach=Reach(allow_private=False, allow_networks=()),
    )


def test_the_reach_comes_from_config_and_an_endpoint_may_lift_or_restore_the_guard() -> None:
    defaults = defaults_from({"allow_private": "false", "allow_networks": "10.0.0.0/8, fd00::/8"})
    assert [str(network) for network in defaults.reach.allow_networks] == ["10.0.0.0/8", "fd00::/8"]
    assert effective(make_endpoint(allow_private=True), defaults).reach == replace(defaults.reach, allow_private=True)
    lifted = defaults_from({"allow_private": "true"})
    assert effective(make_endpoint(allow_private=False), lifted).reach.allow_private is False
    assert effective(make_endpoint(), lifted).reach.allow_private is True


def test_no_stored_config_means_built_in() -> None:
    assert defaults_from({}) == BUILT_IN


def test_stored_config_overrides_built_in() -> None:
    settings = defaults_from({"order": "desc", "batch_size": "50", "timeout": "30s", "max_attempts": "3"})
    assert settings == settings_with(order="desc", batch_size=50, timeout=30.0, max_attempts=3)


def test_stored_config_overrides_only_what_it_sets() -> None:
    settings = defaults_from({"timeout": "500ms"})
    assert settings == settings_with(timeout=0.5)


def test_stored_keys_the_dispatcher_does_not_know_are_ignored() -> None:
    # A newer version may have written keys this one does not read.
    assert defaults_from({"future_setting": "x"}) == BUILT_IN


def test_invalid_stored_value_is_refused() -> None:
    with pytest.raises(DispatcherError):
        defaults_from({"batch_size": "0"})
    with pytest.raises(DispatcherError):
        defaults_from({"timeout": "forever"})


def test_endpoint_without_overrides_uses_the_defaults() -> None:
    defaults = settings_with(order="desc", batch_size=25, timeout=3.0, max_attempts=2)
    assert effective(make_endpoint(), defaults) == defaults


def test_endpoint_overrides_config() -> None:
    defaults = defaults_from({"order": "desc", "batch_size": "50", "timeout": "30s", "max_attempts": "3"})
    endpoint = make_endpoint(order="asc", batch_size=5, timeout=2.5, max_attempts=12)
    assert effective(endpoint, defaults) == settings_with(order="asc", batch_size=5, timeout=2.5, max_attempts=12)


def test_endpoint_overrides_one_setting_and_inherits_the_rest() -> None:
    defaults = defaults_from({"batch_size": "50"})
    endpoint = make_endpoint(timeout=1.0)
    assert effective(endpoint, defaults) == settings_with(batch_size=50, timeout=1.0)


@pytest.mark.parametrize("own_batch_size", [None, 25])
def test_the_raw_format_sends_one_event_per_request(own_batch_size: int | None) -> None:
    endpoint = make_endpoint(format="raw", batch_size=own_batch_size)
    assert effective(endpoint, defaults_from({"batch_size": "50"})).batch_size == 1


@pytest.mark.parametrize("name", ["colour", "batchsize", "BATCH_SIZE", ""])
def test_unknown_key_is_an_error(name: str) -> None:
    with pytest.raises(DispatcherError) as caught:
        key(name)
    message = str(caught.value)
    assert repr(name) in message
    # The message lists what the user could have meant.
    assert "batch_size" in message and "timeout" in message


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("order", "desc", "desc"),
        ("batch_size", "100", 100),
        ("timeout", "2m", 120.0),
        ("timeout", "90", 90.0),
        ("max_attempts", "20", 20),
    ],
)
def test_keys_parse_and_keep_the_spelling(name: str, text: str, value: Any) -> None:
    assert key(name).parse(text) == value
    assert config.checked(name, text) == text


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("order", "ascending"),
        ("order", "ASC"),
        ("batch_size", "ten"),
        ("batch_size", "1.5"),
        ("batch_size", "0"),
        ("timeout", "0s"),
        ("timeout", "2h"),
        ("timeout", "-1s"),
        ("max_attempts", "0"),
        ("max_attempts", ""),
    ],
)
def test_keys_refuse_bad_text(name: str, text: str) -> None:
    with pytest.raises(DispatcherError):
        key(name).parse(text)


def test_validators_accept_their_bounds() -> None:
    assert check_order("asc") == "asc"
    assert check_order("desc") == "desc"
    assert check_batch_size(1) == 1
    assert check_batch_size(1000) == 1000
    assert check_timeout(0.001) == 0.001
    assert check_timeout(3600.0) == 3600.0
    assert check_max_attempts(1) == 1
    assert check_max_attempts(1000) == 1000


@pytest.mark.parametrize("value", [0, -1, 1001, 10**9])
def test_batch_size_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(DispatcherError) as caught:
        check_batch_size(value)
    assert str(value) in str(caught.value)


@pytest.mark.parametrize("value", [0, -3, 1001])
def test_max_attempts_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(DispatcherError):
        check_max_attempts(value)


@pytest.mark.parametrize("seconds", [0.0, 0.0001, -1.0, 3600.001, 86_400.0])
def test_timeout_out_of_range_is_refused(seconds: float) -> None:
    with pytest.raises(DispatcherError):
        check_timeout(seconds)


@pytest.mark.parametrize("seconds", [float("inf"), float("nan")])
def test_non_finite_timeout_is_refused_as_a_user_error(seconds: float) -> None:
    # Reachable from the Python API (endpoints.add(timeout=...)), which must
    # answer with the one error type the CLI and callers handle.
    with pytest.raises(DispatcherError):
        check_timeout(seconds)


@pytest.mark.parametrize("value", ["", "Asc", "random", "asc "])
def test_order_other_than_asc_or_desc_is_refused(value: str) -> None:
    with pytest.raises(DispatcherError):
        check_order(value)


def test_values_are_kept_as_typed_once_checked() -> None:
    assert config.checked("timeout", "120s") == "120s"
    assert config.checked("smtp_password", " pass phrase ") == " pass phrase "
    with pytest.raises(DispatcherError, match="invalid order"):
        config.checked("order", "random")
    assert config.in_force({"timeout": "120s"})["timeout"] == "120s"


def test_the_values_in_force_list_every_key() -> None:
    shown = config.in_force({})
    assert list(shown) == list(config.KEYS)
    assert {name: shown[name] for name in ("order", "batch_size", "timeout", "max_attempts")} == {
        "order": "asc",
        "batch_size": "10",
        "timeout": "15s",
        "max_attempts": "8",
    }
    assert config.in_force({"timeout": "1h", "order": "desc"})["timeout"] == "1h"
