"""dispatcher.endpoint_settings: each setting declared once, and what reads the table agrees with it.

The Endpoint dataclass and the endpoints table are written by hand (mypy --strict checks the one,
migrations the other); these tests hold both to the table. The HTTP API builds its pydantic models
from the table: the round trips below do as it will.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest

from dispatcher import endpoint_view, endpoints
from dispatcher.config import KEYS, defaults_from
from dispatcher.endpoint_settings import (
    FOLLOWS_GLOBAL,
    NAMES,
    RETRY_AT_ONCE,
    SETTINGS,
    by_name,
    check_description,
    settings_of,
)
from dispatcher.errors import DispatcherError
from dispatcher.models import Endpoint, Signing
from dispatcher.store import Store

from .helpers import query

# Endpoint's fields that are no setting: what the dispatcher records as it runs.
STATE = {
    "id",
    "enabled",
    "disabled_reason",
    "disabled_at",
    "retired_secrets",
    "consecutive_failures",
    "last_success_at",
    "last_error",
    "created_at",
}


def api_values(ca_bundle: Path) -> dict[str, Any]:
    """A value for every setting, none its default, as JSON (and the API) has them."""
    return {
        "name": "crm",
        "description": "Leads for the CRM.\n\tOwned by sales.",
        "url": "https://example.com/hook",
        "events": ["lead.*", "order.paid"],
        "secret": "s3cret",
        "order": "desc",
        "batch_size": 3,
        "timeout": 2.5,
        "max_attempts": 4,
        "retry": "fixed:5m",
        "max_age": 3600.0,
        "disable_after": 7,
        "concurrency": 4,
        "rate_limit": "5/s",
        "notify_command": "logger endpoint down",
        "format": "mautic",
        "signature": "hex",
        "signature_header": "X-Sig",
        "signature_prefix": "sha256=",
        "headers": {"Authorization": "Bearer x", "X-Tenant": "7"},
        "success": "200",
        "allow_private": True,
        "ca_bundle": str(ca_bundle),
    }


@pytest.fixture
def ca_bundle(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def api_model() -> type[pydantic.BaseModel]:
    """The model the API builds from the table."""
    fields: dict[str, Any] = {
        setting.name: (setting.api_type, pydantic.Field(description=setting.help)) for setting in SETTINGS
    }
    return pydantic.create_model("EndpointSettings", **fields)


def shown(store: Store, endpoint_id: int) -> dict[str, Any]:
    data = endpoint_view.as_json(store.endpoint(endpoint_id), defaults_from(store.config()), show_secret=True)
    return {name: data[name] for name in NAMES}


def test_the_values_cover_every_setting(ca_bundle: Path) -> None:
    assert set(api_values(ca_bundle)) == set(NAMES)


def test_the_endpoint_dataclass_has_a_field_for_each_setting_and_its_state() -> None:
    own = {setting.attribute.partition(".")[0] for setting in SETTINGS}
    assert {field.name for field in dataclasses.fields(Endpoint)} == own | STATE
    assert not own & STATE
    signing = {setting.attribute.partition(".")[2] for setting in SETTINGS if "." in setting.attribute}
    assert {field.name for field in dataclasses.fields(Signing)} == signing


def test_every_column_is_in_the_endpoints_table(store: Store, db_path: Path) -> None:
    columns = {row[1] for row in query(db_path, "PRAGMA table_info(endpoints)")}
    assert {setting.column for setting in SETTINGS} <= columns


def test_the_api_shapes_go_in_and_come_back_out(store: Store, ca_bundle: Path) -> None:
    request = api_model()(**api_values(ca_bundle)).model_dump()
    endpoint = endpoints.add(store, request.pop("url"), **request)
    assert shown(store, endpoint.id) == api_values(ca_bundle)
    api_model().model_validate(shown(store, endpoint.id))  # the JSON is what the response model says


def test_update_takes_the_api_shapes_too(store: Store, ca_bundle: Path) -> None:
    endpoint = endpoints.add(store, "https://example.com/first")
    endpoints.update(store, endpoint.id, **api_model()(**api_values(ca_bundle)).model_dump())
    assert shown(store, endpoint.id) == api_values(ca_bundle)


def test_headers_come_as_an_object_strings_or_pairs_alike(store: Store) -> None:
    given = ({"X-A": "1", "X-B": "2"}, ["X-A: 1", "X-B: 2"], [("X-A", "1"), ("X-B", "2")])
    added = [endpoints.add(store, "https://example.com/hook", headers=headers).headers for headers in given]
    assert added == [(("X-A", "1"), ("X-B", "2"))] * 3


def test_a_new_endpoint_has_each_setting_s_default(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook")
    own = settings_of(endpoint)
    for setting in SETTINGS:
        if setting.name not in ("url", "secret"):  # given; generated
            assert own[setting.name] == setting.default, setting.name


def test_the_settings_that_follow_the_global_one_are_global_settings() -> None:
    assert set(FOLLOWS_GLOBAL) == {
        "order",
        "batch_size",
        "timeout",
        "max_attempts",
        "retry",
        "max_age",
        "disable_after",
        "concurrency",
        "rate_limit",
        "notify_command",
        "allow_private",
    }
    for name in FOLLOWS_GLOBAL:
        assert name in KEYS and by_name(name).default is None


def test_the_settings_that_make_a_retry_due_at_once() -> None:
    assert set(RETRY_AT_ONCE) == {
        "url",
        "secret",
        "format",
        "signature",
        "signature_header",
        "signature_prefix",
        "headers",
        "success",
        "allow_private",
        "ca_bundle",
    }


def test_help_is_one_line_each() -> None:
    for setting in SETTINGS:
        assert setting.help and "\n" not in setting.help and setting.help.endswith("."), setting.name


def test_an_unknown_setting_is_refused(store: Store) -> None:
    with pytest.raises(DispatcherError, match="unknown endpoint setting: colour"):
        endpoints.add(store, "https://example.com/hook", colour="red")
    with pytest.raises(DispatcherError, match="unknown endpoint setting: colour"):
        by_name("colour")


def test_the_settings_load_without_the_web_extra() -> None:
    """The API's modules may import the table; the table imports nothing of the API's."""
    program = (
        "import sys\n"
        "import dispatcher.endpoint_settings, dispatcher.endpoints, dispatcher.endpoint_view, dispatcher.cli.endpoint\n"
        "print(sorted({'pydantic', 'fastapi', 'starlette'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr


# --- description -----------------------------------------------------------------------


def test_a_description_may_have_lines_and_tabs_up_to_1000_characters() -> None:
    assert check_description("for the CRM\n\tsales") == "for the CRM\n\tsales"
    assert check_description("é" * 1000) == "é" * 1000


@pytest.mark.parametrize(
    "text,refusal",
    [
        ("x" * 1001, "at most 1000 characters, not 1001"),
        ("red \x1b[31malert", "no control characters other than newline and tab"),
        ("over\rwritten", "no control characters other than newline and tab"),
        ("nul\x00", "no control characters other than newline and tab"),
        ("c1\x85", "no control characters other than newline and tab"),
    ],
    ids=["too long", "escape", "carriage return", "nul", "c1 control"],
)
def test_a_description_refuses_control_characters_and_length(store: Store, text: str, refusal: str) -> None:
    with pytest.raises(DispatcherError, match=f"invalid description: {refusal}"):
        endpoints.add(store, "https://example.com/hook", description=text)
    assert store.endpoints() == []


def test_a_description_is_kept_changed_and_cleared(store: Store) -> None:
    endpoint = endpoints.add(store, "https://example.com/hook", description="first")
    assert store.endpoint(endpoint.id).description == "first"
    assert endpoints.update(store, endpoint.id, name="crm").description == "first"
    assert endpoints.update(store, endpoint.id, description="second").description == "second"
    assert endpoints.update(store, endpoint.id, description="").description == ""
