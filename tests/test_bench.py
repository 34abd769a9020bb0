"""The benchmark runs end to end on tiny sizes: every case, every reference, a report.

Its figures are not checked here (timed assertions do not belong in a test
suite on a shared machine); `bench/run.py` without --smoke is what measures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "bench" / "run.py"


@pytest.mark.slow
def test_the_benchmark_smoke_run_measures_every_case(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads((tmp_path / "smoke.json").read_text())
    assert [case["case"].split(".")[0] for case in report["cases"]] == [
        "1",
        "1b",
        "2",
        "2b",
        "3",
        "4",
        "5",
        "6",
        "7",
        "7b",
        "8",
        "9",
        "9b",
        "10",
        "10b",
        "11",
        "11b",
    ]
    for case in report["cases"]:
        assert case["ours"] > 0 and all(value > 0 for value in case["references"].values()), case
    # Case 4 compares with both other models, huey included (a test dependency).
    (slow_drain,) = [case for case in report["cases"] if case["case"].startswith("4.")]
    assert len(slow_drain["references"]) == 2
    assert "cores" in report["machine"]
    # Case 8 posts to a real `dispatcher serve` and reports its latencies beside the rate.
    (served,) = [case for case in report["cases"] if case["case"].startswith("8.")]
    latency = served["notes"]
    assert 0 < latency["p50 latency ms"] <= latency["p95 latency ms"]
    assert [target["target"] for target in served["targets"]] == [">= 1500 events/s", "p95 latency ms <= 10"]
    # Case 9 reports the peak memory of the `dispatcher process` it timed; 9b shows today's drain beside.
    (import_case,) = [case for case in report["cases"] if case["case"].startswith("9.")]
    (peak,) = [value for name, value in import_case["notes"].items() if name.startswith("peak RSS MB")]
    assert 10 < peak < 1000
    (concurrent,) = [case for case in report["cases"] if case["case"].startswith("9b.")]
    assert len(concurrent["references"]) == 2


def test_a_saved_run_prints_as_the_readme_s_table(tmp_path: Path) -> None:
    report = {
        "machine": "a test machine",
        "mode": "full",
        "repeat": 5,
        "cases": [
            {
                "case": "9. a case",
                "unit": "events/s",
                "ours": 1500.0,
                "references": {"one": 1000.0, "two": 3000.0},
                "ratios": {"one": 1.5, "two": 0.5},
                "targets": [{"target": ">= 1x one", "met": True}],
                "samples": [1400.0, 1500.0, 1500.0, 1600.0, 1700.0],
            },
            {
                "case": "10. a long case",
                "unit": "events/s",
                "ours": 800.0,
                "references": {"one": 400.0},
                "ratios": {"one": 2.0},
                "targets": [],
                "samples": [700.0, 900.0],
            },
        ],
    }
    saved = tmp_path / "full.json"
    saved.write_text(json.dumps(report))
    table = subprocess.run(
        [sys.executable, str(BENCH), "--markdown", str(saved)], capture_output=True, text=True, check=True
    ).stdout
    assert "| 9. a case | 1,500 events/s | one: 1,000 events/s | 1.50 | >= 1x one: met |" in table
    assert "|  |  | two: 3,000 events/s | 0.50 |  |" in table
    # A case run fewer times than the others says so.
    assert "| 10. a long case (median of 2) | 800 events/s | one: 400 events/s | 2.00 |  |" in table
