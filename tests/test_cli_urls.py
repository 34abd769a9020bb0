"""`endpoint add` and `endpoint update --url` with URLs people mistype: refused in one line, nothing
saved; and the reach warning, from names the tests' own resolver answers (no real DNS)."""

from __future__ import annotations

import json

import pytest
from click.testing import Result

from .helpers import assert_one_line_error, ok

BAD_URLS = [
    "http://example.com:99999/",
    "http://example.com:abc/",
    "https://[::1",
    "http://exa mple.com/",
    "http://example.com/a b",
    "http://ex%zzample.com/",
    "http://exa%20mple.com/",
    "http://[::g]:8080/",
    "http://[::ffff:1.2.3.400]/",
    "http://::1/hook",
    "http://ex\x01ample.com/",
    "http://☃.example/",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_add_refuses_a_bad_url_in_one_line_and_saves_nothing(invoke, url: str) -> None:
    ok(invoke("init"))  # (into a file that did not exist, a refused add writes no file at all)
    error = assert_one_line_error(invoke("endpoint", "add", url))
    assert error.startswith(f"Error: invalid URL {url!r}: ")
    assert json.loads(ok(invoke("endpoint", "list", "--json"))) == []


@pytest.mark.parametrize("url", BAD_URLS)
def test_update_refuses_a_bad_url_in_one_line_and_changes_nothing(invoke, url: str) -> None:
    ok(invoke("endpoint", "add", "http://192.0.2.10/hook", "--name", "crm"))
    before = json.loads(ok(invoke("endpoint", "show", "1", "--json", "--show-secret")))
    assert_one_line_error(invoke("endpoint", "update", "1", "--url", url))
    assert json.loads(ok(invoke("endpoint", "show", "1", "--json", "--show-secret"))) == before


def test_the_real_program_refuses_an_out_of_range_port_without_a_traceback(run_dispatcher) -> None:
    assert run_dispatcher("init").returncode == 0
    # An address, not a name: the program runs outside the tests' DNS guard.
    result = run_dispatcher("endpoint", "add", "http://192.0.2.1:99999/")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "Error: invalid URL 'http://192.0.2.1:99999/': the port must be a number from 1 to 65535\n"
    )
    assert json.loads(run_dispatcher("endpoint", "list", "--json").stdout) == []


@pytest.mark.parametrize(
    "url", ["http://[2001:db8::1]:8443/hook", "https://bücher.invalid/hook", "https://user:p%40ss@hooks.invalid/"]
)
def test_add_keeps_a_good_url_as_given(invoke, url: str) -> None:
    added = json.loads(ok(invoke("endpoint", "add", url, "--json", "--show-secret")))
    assert added["url"] == url


def test_the_reach_warning_comes_from_what_the_host_resolves_to(invoke, no_real_dns: dict[str, str]) -> None:
    def run(*args: str) -> Result:
        result = invoke(*args)
        ok(result)
        return result

    private = no_real_dns["private.test"]
    added = run("endpoint", "add", "http://private.test:8080/hook")
    assert added.stderr == (
        f"Warning: requests to this URL will fail: private.test resolves to {private}, a private address; "
        "allow it with --allow-private or the allow_networks setting\n"
    )
    assert run("endpoint", "update", "1", "--url", "https://public.test/hook").stderr == ""
    assert run("endpoint", "update", "1", "--url", "https://nowhere.invalid/hook").stderr == ""  # not found: no warning
    assert run("endpoint", "update", "1", "--url", "http://[::1]:8080/hook").stderr.startswith("Warning: ")
