"""The benchmark: every case next to its reference, measured side by side in one run.

    .venv/bin/python bench/run.py            # full sizes, 5 repetitions (several minutes)
    .venv/bin/python bench/run.py --quick    # smaller sizes, 3 repetitions
    .venv/bin/python bench/run.py --smoke    # tiny sizes, once: checks the benchmark runs (CI)

Prints a table of medians and ratios, and writes it as JSON (and a PNG chart when matplotlib is
installed) to the --out folder. Timings are medians of the repetitions; a ratio is the median of
ours over the median of the reference, so above 1 means faster (for memory: below 1 is under the limit).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` and `dispatcher` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "bench"

from bench import cases, postgres, serving, throughput  # noqa: E402
from bench.receivers import nginx_path  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    unit: str
    measure: Callable[[Path, cases.Sizes], cases.Sample]
    # (reference name or None for an absolute target, the lowest ratio or value accepted); ratios are
    # ours / reference, except "max" targets, where ours (or "max NOTE": that note) must stay at or below the value.
    targets: tuple[tuple[str, float], ...]
    # Fewer repetitions than the mode's, for a case that takes minutes (--repeat still sets them all).
    most_repeats: int | None = None


CASES = [
    Case("1. enqueue, one event per call", "events/s", cases.enqueue_one, (("ratio", 0.4),)),
    Case(
        "1b. `dispatcher enqueue` from a shell, one command per event",
        "calls/s",
        cases.enqueue_shell,
        (("ratio", 0.1),),
    ),
    Case("2. bulk enqueue (enqueue_many)", "events/s", cases.enqueue_bulk, (("ratio", 0.3),)),
    Case("2b. bulk import (dispatcher import, JSON Lines)", "events/s", cases.import_bulk, (("ratio", 0.3),)),
    Case("3. drain, 1 endpoint, batch 10, zero latency", "events/s", cases.drain_fast, (("ratio", 0.7),)),
    Case(
        "4. drain, 20 endpoints answering after 100 ms, --workers 16",
        "events/s",
        cases.drain_slow,
        (("absolute", 1280.0), ("ratio serial", 10.0), ("ratio huey", 20.0)),
    ),
    Case(
        "5. drain next to 1M delivered rows vs empty tables",
        "events/s",
        cases.claim_with_history,
        (("ratio", 1 / 1.3),),
    ),
    Case("6. peak RSS of process draining the memory queue", "MB", cases.memory, (("max", 150.0),)),
    # No targets: what --workers does, for the README's advice on choosing it.
    Case(
        f"7. --workers {cases.DEFAULT_WORKERS} (default), 20 endpoints answering after 100 ms",
        "events/s",
        cases.workers_slow,
        (),
    ),
    Case(
        f"7b. --workers {cases.DEFAULT_WORKERS} (default), 4 endpoints answering at once",
        "events/s",
        cases.workers_fast,
        (),
    ),
    Case(
        f"8. POST /api/v1/events with keep-alive from {serving.CLIENTS} concurrent clients",
        "events/s",
        serving.post_events,
        (("absolute", 1500.0), ("max p95 latency ms", 10.0)),
    ),
    Case(
        "9. import to 1 endpoint answering after 100 ms, batch 10, concurrency 16 vs 1",
        "events/s",
        throughput.import_slow,
        (("absolute", 1400.0), ("ratio concurrency 1", 14.0)),
        most_repeats=2,
    ),
    Case(
        "9b. drain, 1 endpoint, zero latency (nginx), concurrency 4, both cores",
        "events/s",
        throughput.drain_concurrent,
        (("ratio bare", 1.0),),
    ),
    # No targets for 10 and 10b: what PostgreSQL costs a producer, beside its raw driver.
    Case("10. PostgreSQL: enqueue, one event per call", "events/s", postgres.enqueue_one, ()),
    Case("10b. PostgreSQL: bulk enqueue (enqueue_many)", "events/s", postgres.enqueue_bulk, ()),
    Case(
        f"11. PostgreSQL: drain, {postgres.HOST_ENDPOINTS} endpoints answering after 100 ms, "
        f"{postgres.HOSTS} hosts vs 1 (--workers {postgres.HOST_WORKERS} each)",
        "deliveries/s",
        postgres.drain_hosts,
        (("ratio", 2.7),),
        most_repeats=3,
    ),
    Case(
        f"11b. drain, {postgres.HOST_ENDPOINTS} endpoints answering after 100 ms, 1 host: PostgreSQL vs SQLite",
        "deliveries/s",
        postgres.drain_vs_sqlite,
        (("ratio", 0.8),),
        most_repeats=3,
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const="quick", dest="size", help="smaller sizes")
    size.add_argument("--smoke", action="store_const", const="smoke", dest="size", help="tiny sizes, once")
    parser.add_argument("--case", action="append", help="run only this case: 1, 2, 2b, 3 ... (repeatable)")
    parser.add_argument("--repeat", type=int, help="repetitions (default: 5 full, 3 quick, 1 smoke)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results", help="folder for the results")
    parser.add_argument("--markdown", type=Path, metavar="JSON", help="print a saved run as a Markdown table, and stop")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    mode = args.size or "full"
    sizes = cases.SIZES[mode]
    repeat = args.repeat or sizes.repeat
    chosen = [case for case in CASES if not args.case or case.name.split(".")[0] in args.case]

    print(machine())
    print(f"mode {mode}, {repeat} repetition(s), medians\n")
    results = []
    with tempfile.TemporaryDirectory(prefix="dispatcher-bench-") as scratch:
        for number, case in enumerate(chosen):
            folder = Path(scratch) / f"case{number}"
            folder.mkdir()
            times = args.repeat or min(repeat, case.most_repeats or repeat)
            samples = [case.measure(folder, sizes) for _ in range(times)]
            result = summarize(case, samples)
            results.append(result)
            print_result(result, repeat)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "machine": machine(),
        "mode": mode,
        "repeat": repeat,
        "sizes": asdict(sizes),
        "cases": [asdict(result) for result in results],
    }
    (args.out / f"{mode}.json").write_text(json.dumps(report, indent=2) + "\n")
    chart(results, args.out / f"{mode}.png")
    return 0 if all(result.met for result in results) or mode == "smoke" else 1


@dataclass(frozen=True)
class Result:
    case: str
    unit: str
    ours: float  # the median
    references: dict[str, float]  # medians
    ratios: dict[str, float]  # ours / reference
    notes: dict[str, float]
    targets: list[dict[str, object]]  # {"target": text, "met": bool}
    met: bool
    samples: list[float]  # ours, every repetition


def summarize(case: Case, samples: list[cases.Sample]) -> Result:
    ours = statistics.median(sample.ours for sample in samples)
    references = {name: statistics.median(s.references[name] for s in samples) for name in samples[0].references}
    notes = {name: statistics.median(s.notes[name] for s in samples) for name in samples[0].notes}
    ratios = {name: ours / value for name, value in references.items()}
    checks = [_check(kind, wanted, case.unit, ours, ratios, notes) for kind, wanted in case.targets]
    return Result(
        case=case.name,
        unit=case.unit,
        ours=ours,
        references=references,
        ratios=ratios,
        notes=notes,
        targets=[{"target": text, "met": met} for text, met in checks],
        met=all(met for _, met in checks),
        samples=[sample.ours for sample in samples],
    )


def _check(
    kind: str, wanted: float, unit: str, ours: float, ratios: dict[str, float], notes: dict[str, float]
) -> tuple[str, bool]:
    if kind == "absolute":
        return f">= {wanted:g} {unit}", ours >= wanted
    if kind == "max":
        return f"<= {wanted:g} {unit}", ours <= wanted
    if kind.startswith("max "):
        note = kind.removeprefix("max ")
        return f"{note} <= {wanted:g}", note in notes and notes[note] <= wanted
    which = kind.removeprefix("ratio").strip()
    name = next((n for n in ratios if which in n), None)
    if name is None:
        return f"{which}: not measured", False
    return f">= {wanted:.2g}x {which or 'the reference'}", ratios[name] >= wanted


def print_result(result: Result, repeat: int) -> None:
    print(result.case + _fewer_repetitions(len(result.samples), repeat))
    print(f"    dispatcher: {result.ours:,.0f} {result.unit}")
    for name, value in result.references.items():
        print(f"    {name}: {value:,.0f} {result.unit}  (ratio {result.ratios[name]:.2f})")
    for name, value in result.notes.items():
        print(f"    {name}: {value:,.1f}")
    for target in result.targets:
        print(f"    target {target['target']}: {'met' if target['met'] else 'NOT met'}")
    print()


def markdown(report: dict[str, Any]) -> str:
    """The README's table: one row per case and reference, medians and the ratio."""
    rows = [
        f"Run on {report['machine']}; mode {report['mode']}, medians of {report['repeat']} repetitions.",
        "",
        "| case | dispatcher | reference | ratio | target |",
        "|---|---|---|---|---|",
    ]
    for case in report["cases"]:
        unit = case["unit"]
        targets = "; ".join(f"{t['target']}: {'met' if t['met'] else 'NOT met'}" for t in case["targets"])
        title = case["case"] + _fewer_repetitions(len(case.get("samples", [])) or report["repeat"], report["repeat"])
        for n, (name, value) in enumerate(case["references"].items()):
            ours = f"{case['ours']:,.0f} {unit}" if n == 0 else ""
            rows.append(
                f"| {title if n == 0 else ''} | {ours} | {name}: {value:,.0f} {unit} "
                f"| {case['ratios'][name]:.2f} | {targets if n == 0 else ''} |"
            )
    return "\n".join(rows)


def _fewer_repetitions(done: int, repeat: int) -> str:
    return f" (median of {done})" if done != repeat else ""


def machine() -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if "model name" in line
            ),
            platform.processor() or "unknown CPU",
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor()
    )
    receiver = "nginx" if nginx_path() else "python asyncio server (nginx not found)"
    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
        f"zero-latency receiver: {receiver}"
    )


def chart(results: list[Result], path: Path) -> None:
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return
    figure, axes = plt.subplots(len(results), 1, figsize=(8, 2.2 * len(results)), squeeze=False)
    for axis, result in zip(axes[:, 0], results):
        names = ["dispatcher", *result.references]
        values = [result.ours, *result.references.values()]
        axis.barh(names, values, color=["tab:blue"] + ["tab:gray"] * (len(names) - 1))
        axis.set_title(result.case, fontsize=9)
        axis.set_xlabel(result.unit, fontsize=8)
        axis.tick_params(labelsize=7)
        axis.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


if __name__ == "__main__":
    sys.exit(main())
