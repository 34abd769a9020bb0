"""The schema travels with the package: in a built wheel and in the editable install.

schema.sql lives at the top of the repository and reaches the package through
the symlink dispatcher/schema.sql; a wheel must carry it as a real file.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dispatcher.store.sqlite import connection as sqlite_schema

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema.sql"
TABLES = {"events", "endpoints", "pending", "deliveries", "batches", "attempts", "config"}


def _run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The child must see only its own environment, not this test run's venv.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    result = subprocess.run([str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def test_editable_install_finds_the_schema() -> None:
    assert sqlite_schema.schema_sql() == SCHEMA.read_text(encoding="utf-8")


@pytest.mark.slow
def test_wheel_carries_the_schema_and_its_console_script_creates_the_database(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, ROOT, cwd=tmp_path)
    (wheel,) = dist.glob("dispatcher-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("dispatcher/schema.sql")
        assert not stat.S_ISLNK(info.external_attr >> 16), "schema.sql is stored as a symlink"
        assert archive.read(info) == SCHEMA.read_bytes()
        (record,) = [name for name in archive.namelist() if name.endswith(".dist-info/RECORD")]
        assert "dispatcher/schema.sql," in archive.read(record).decode()
        # The benchmark is the repository's, not the package's: it needs huey and ships a chart.
        assert {name.split("/")[0] for name in archive.namelist()} == {"dispatcher", record.split("/")[0]}

    # A venv without pip is made in a blink; this interpreter's pip installs into it.
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", wheel, cwd=tmp_path)

    located = _run(python, "-c", "import dispatcher; print(dispatcher.__file__)", cwd=tmp_path)
    assert Path(located.stdout.strip()).is_relative_to(venv), "dispatcher imported from outside the new venv"

    db = tmp_path / "x.db"
    _run(venv / "bin" / "dispatcher", "--db", db, "init", cwd=tmp_path)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")
        names = {name for (name,) in rows}
        version = conn.execute("SELECT version FROM dispatcher_schema").fetchone()[0]
    conn.close()
    assert TABLES | {"events_fan_out"} <= names
    assert version == sqlite_schema.SCHEMA_VERSION
