"""The README documents every command and every option the CLI has (as sqlite-utils' docs tests do).

Each command is named as ``dispatcher <command path>``; each option of a command
appears in the README section whose heading names that command (the top-level
options anywhere in the README).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dispatcher.cli import cli
from dispatcher.endpoint_settings import FOLLOWS_GLOBAL, RETRY_AT_ONCE, SETTINGS, Setting, by_name

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """(command path, command) for every command and group below ``group``, depth first."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or command.hidden:
            continue
        yield " ".join((*path, name)), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def _options(command: click.Command) -> list[str]:
    return [
        opt
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden
        for opt in (*param.opts, *param.secondary_opts)
        if opt != "--help"
    ]


def _mentions(text: str, command_path: str) -> bool:
    return re.search(rf"dispatcher {re.escape(command_path)}(?![\w-])", text) is not None


def _section(command_path: str) -> str:
    """The README text under the heading that names ``dispatcher <command_path>``."""
    lines = README.splitlines()
    for start, line in enumerate(lines):
        heading = re.match(r"(#+)\s", line)
        if heading and _mentions(line, command_path):
            level = len(heading.group(1))
            end = next(
                (
                    i
                    for i in range(start + 1, len(lines))
                    if (m := re.match(r"(#+)\s", lines[i])) and len(m.group(1)) <= level
                ),
                len(lines),
            )
            return "\n".join(lines[start:end])
    raise AssertionError(f"README.md has no heading naming `dispatcher {command_path}`")


COMMANDS = list(_commands())


def test_the_walk_finds_the_commands() -> None:
    paths = {path for path, _ in COMMANDS}
    assert {"init", "process", "endpoint", "endpoint add", "config set"} <= paths


@pytest.mark.parametrize("command_path", [path for path, _ in COMMANDS])
def test_every_command_is_in_the_readme(command_path: str) -> None:
    assert _mentions(README, command_path), f"README.md never mentions `dispatcher {command_path}`"


@pytest.mark.parametrize(
    "command_path,option",
    [(path, option) for path, command in COMMANDS for option in _options(command)],
)
def test_every_option_is_in_its_command_section(command_path: str, option: str) -> None:
    assert re.search(rf"{re.escape(option)}(?![\w-])", _section(command_path)), (
        f"the README section on `dispatcher {command_path}` does not mention {option}"
    )


@pytest.mark.parametrize("option", _options(cli))
def test_every_top_level_option_is_in_the_readme(option: str) -> None:
    assert re.search(rf"{re.escape(option)}(?![\w-])", README), f"README.md never mentions {option}"


# --- the endpoint settings, as dispatcher.endpoint_settings declares them (datasette's habit) ----------


def _settings_table() -> dict[str, tuple[str, str]]:
    """The README's table of endpoint settings: setting name -> (its option cell, its help cell)."""
    rows = {}
    for line in _section("endpoint add").splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(cells) == 3 and re.fullmatch(r"`\w+`", cells[0]):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_the_settings_table_has_a_row_for_each_setting_and_no_other() -> None:
    assert list(_settings_table()) == [setting.name for setting in SETTINGS]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_each_setting_s_row_names_its_option_and_says_its_help(setting: Setting) -> None:
    option, help_text = _settings_table()[setting.name]
    for spelling in setting.flag.spellings:
        assert re.search(rf"`{re.escape(spelling)}(?![\w-])", option), f"{setting.name}'s row lacks {spelling}"
    assert help_text == setting.help


@pytest.mark.parametrize("command_path", ["endpoint add", "endpoint update"])
def test_the_endpoint_help_lists_every_setting_s_option(command_path: str) -> None:
    shown = CliRunner().invoke(cli, [*command_path.split(), "--help"]).output
    for setting in SETTINGS:
        if setting.required and command_path == "endpoint add":
            assert re.search(rf"\[OPTIONS\] {setting.name.upper()}\b", shown)  # its argument
            continue
        for spelling in setting.flag.spellings:
            assert re.search(rf"{re.escape(spelling)}(?![\w-])", shown), f"{command_path} --help lacks {spelling}"


def _quoted_between(section: str, after: str, before: str) -> set[str]:
    """The `quoted` words in ``section`` (lines joined) between the first ``after`` and the ``before`` that follows."""
    text = " ".join(line.strip() for line in section.splitlines())
    return set(re.findall(r"`([^`]+)`", text.split(after, 1)[1].split(before, 1)[0]))


def test_the_readme_names_the_settings_that_follow_the_global_ones() -> None:
    reset = _quoted_between(_section("endpoint update"), "follow the global setting again (repeat for several):", ".")
    assert reset == set(FOLLOWS_GLOBAL)
    override = _quoted_between(_section("endpoint add"), "URL will fail: ...`).", "override the global settings")
    assert override == {by_name(name).flag.spellings[0] for name in FOLLOWS_GLOBAL}


def test_the_readme_names_the_settings_that_make_a_retry_due_at_once() -> None:
    flags = _quoted_between(_section("endpoint update"), "whether a request can succeed (", ")")
    assert flags == {by_name(name).flag.spellings[0] for name in RETRY_AT_ONCE}
