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

from dispatcher.cli import cli

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
