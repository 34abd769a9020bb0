"""The benchmark runs end to end on tiny sizes: every case, every reference, a report.

Its figures are not checked here (timed assertions do not belong in a test
suite on a shared machine); `bench/run.py` without --smoke is what measures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parent.parent / "bench" / "run.py"


def test_the_benchmark_smoke_run_measures_every_case(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "smoke.json").read_text())
    assert [case["case"].split(".")[0] for case in report["cases"]] == ["1", "2", "2b", "3", "4", "5", "6"]
    for case in report["cases"]:
        assert case["ours"] > 0 and all(value > 0 for value in case["references"].values()), case
    # Case 4 compares with both other models, huey included (a test dependency).
    assert len(report["cases"][4]["references"]) == 2
    assert "cores" in report["machine"]
