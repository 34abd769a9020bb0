"""The test suite's own house rule: test files share helpers through conftest.py fixtures and plain
helper modules (helpers.py, process_helpers.py, factories.py, ...), never by importing a test file.

Importing a test file ties one file's tests to another's internals (and, under pytest's importlib
import mode, loads it a second time); conftest.py is pytest's to load, not a module to import from.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
PACKAGE = TESTS.name
MODULES = sorted(TESTS.rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join((PACKAGE, *path.relative_to(TESTS).with_suffix("").parts))


def imported_names(source: str, module: str) -> set[str]:
    """Every dotted name an import in ``source`` (the text of ``module``) may load, relative ones resolved.

    ``from x import y`` gives both x and x.y: y may be a module (``from . import test_cli``).
    """
    package = module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            origin = ".".join(part for part in (base, node.module or "") if part)
            names.add(origin)
            names.update(f"{origin}.{alias.name}" for alias in node.names)
    return names


def _own_parts(name: str) -> list[str]:
    """The parts of ``name`` inside the tests package; none for another package (pytest, dispatcher)."""
    parts = name.split(".")
    if parts[0] == PACKAGE:
        return parts[1:]
    # Bare names, as they would resolve with tests/ itself on sys.path.
    return parts if parts[0].startswith("test_") or parts[0] == "conftest" else []


def is_test_module(name: str) -> bool:
    return any(part.startswith("test_") for part in _own_parts(name))


def is_conftest(name: str) -> bool:
    return "conftest" in _own_parts(name)


def imports(module_path: Path, rule: Callable[[str], bool]) -> list[str]:
    """One "file: module" line per module that ``module_path`` imports and ``rule`` forbids."""
    names = imported_names(module_path.read_text(encoding="utf-8"), module_name(module_path))
    # tests.test_cli, not each of tests.test_cli.ok, tests.test_cli.show, ...
    modules = {_shortest(name, rule) for name in names if rule(name)}
    return [f"{module_path.relative_to(TESTS.parent)}: {module}" for module in sorted(modules)]


def _shortest(name: str, rule: Callable[[str], bool]) -> str:
    parts = name.split(".")
    return next(".".join(parts[:n]) for n in range(1, len(parts) + 1) if rule(".".join(parts[:n])))


def test_no_module_of_the_suite_imports_a_test_file() -> None:
    found = [line for path in MODULES for line in imports(path, is_test_module)]
    assert found == [], "share it through a conftest.py fixture or tests/helpers.py instead:\n" + "\n".join(found)


def test_no_module_of_the_suite_imports_conftest() -> None:
    found = [line for path in MODULES if path.name != "conftest.py" for line in imports(path, is_conftest)]
    assert found == [], "put plain helpers in tests/helpers.py and import them from there:\n" + "\n".join(found)


def test_the_suite_is_scanned_into_its_subfolders() -> None:
    assert {path.parent for path in MODULES} > {TESTS}


@pytest.mark.parametrize(
    ("module", "statement"),
    [
        ("tests.test_a", "from tests.test_cli import ok"),
        ("tests.test_a", "from .test_cli import ok"),
        ("tests.test_a", "from . import test_cli"),
        ("tests.test_a", "from tests import test_cli"),
        ("tests.test_a", "import tests.test_cli"),
        ("tests.test_a", "import tests.test_cli as cli_tests"),
        ("tests.test_a", "from test_cli import ok"),
        ("tests.test_a", "def helper():\n    from .test_cli import ok"),
        ("tests.faults.test_a", "from ..test_cli import ok"),
        ("tests.faults.test_a", "from .test_b import FAULTS"),
        ("tests.helpers", "from .test_cli import ok"),
    ],
)
def test_each_way_of_importing_a_test_file_is_seen(module: str, statement: str) -> None:
    assert any(is_test_module(name) for name in imported_names(statement, module))


@pytest.mark.parametrize(
    ("module", "statement"),
    [
        ("tests.test_a", "from .conftest import SECRET"),
        ("tests.test_a", "from tests.conftest import SECRET"),
        ("tests.test_a", "from . import conftest"),
        ("tests.faults.test_a", "from ..conftest import SECRET"),
    ],
)
def test_each_way_of_importing_conftest_is_seen(module: str, statement: str) -> None:
    assert any(is_conftest(name) for name in imported_names(statement, module))


@pytest.mark.parametrize(
    ("module", "statement"),
    [
        ("tests.test_a", "from .helpers import ok, outcome"),
        ("tests.test_a", "from tests.factories import make_endpoint"),
        ("tests.test_a", "from . import workload"),
        ("tests.test_a", "import pytest"),
        ("tests.test_a", "from dispatcher.cli import cli"),
        ("tests.test_a", "from hypothesis import strategies as st"),
        ("tests.faults.test_a", "from ..helpers import SECRET, dispatcher_command"),
        ("tests.faults.test_a", "from .flaky import FlakyReceiver"),
    ],
)
def test_helper_modules_and_other_packages_are_allowed(module: str, statement: str) -> None:
    names = imported_names(statement, module)
    assert names and not any(is_test_module(name) or is_conftest(name) for name in names)
