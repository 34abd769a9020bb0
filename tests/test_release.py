"""What a release promises: the version is one number everywhere, the changelog has its entry, and every
global setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dispatcher import __version__
from dispatcher.config import KEYS
from dispatcher.sending.request import USER_AGENT

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_the_changelog_opens_with_this_version() -> None:
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", CHANGELOG, re.MULTILINE)
    assert releases, "CHANGELOG.md has no '## [X.Y.Z] - YYYY-MM-DD' heading"
    assert releases[0] == __version__


def test_the_user_agent_and_the_readme_name_this_version() -> None:
    assert USER_AGENT == f"dispatcher/{__version__}"
    assert f"User-Agent: {USER_AGENT}\n" in README


def _config_section() -> str:
    start = README.index("### `dispatcher config`")
    return README[start : README.index("\n### ", start + 1)]


@pytest.mark.parametrize("name", sorted(KEYS))
def test_every_setting_is_documented(name: str) -> None:
    assert f"`{name}`" in _config_section(), f"the README's config section does not name {name}"
