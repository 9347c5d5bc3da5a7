"""Benchmark of the rubric impact preview's streaming path: wall time and peak memory.

    python bench/impact_bench.py                 # 50,000 calls, both parts
    python bench/impact_bench.py --calls 500000 --skip-http

Part 1 (evaluator + report): synthetic call logs, shaped like the API's, come from a generator one
at a time and go through ``ImpactReport.add_calls`` (live rubric vs the same rubric with rule 5512
tightened from gte 4 to gte 5). The generator alone is timed too, so the evaluation's own cost per
call can be read off. Peak memory is tracemalloc's peak over the run: with a streaming path it does
not grow with the number of calls.

Part 2 (over HTTP): an emulator in a child process serves the same number of calls for project 123
over 90 days; ``compute_impact`` splits the window (3 API windows, fetched in parallel) and pages
them in. Peak memory is tracemalloc's peak in this process (the client side only; the emulator holds
the calls in the other process, each serialized once and indexed by time).
"""

from __future__ import annotations

import argparse
import copy
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from reconciler.client import CekuraClient
from reconciler.emulator import EmulatorState, start
from reconciler.emulator_seed import default_seed, iter_generated_calls
from reconciler.impact import ImpactReport, compute_impact

API_KEY = "bench-key"
PROJECT = 123
SPAN_DAYS = 90


def rubrics() -> tuple[dict[str, Any], dict[str, Any]]:
    seed = default_seed()
    live: dict[str, Any] = next(p for p in seed["projects"] if p["id"] == PROJECT)["rubric_config"]
    desired = copy.deepcopy(live)
    for rule in desired["rules"]:
        if rule["metric_id"] == 5512:
            rule["conditions"]["conditions"] = [{"field": "score", "op": "gte", "value": 5}]
    return live, desired


def synthetic_calls(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Call logs like the API's (seven metric results, one in twelve missing), made one at a time."""
    rng = random.Random(seed)
    start = datetime(2026, 11, 28, 12, 0, 0)
    resolution = ["resolved", "partially_resolved", "unresolved"]
    topics = ["billing", "appointment", "prescription_refill", "insurance", "other"]
    for index in range(count):
        entries: list[dict[str, Any]] = [
            {"id": 5512, "type": "continuous_qualitative", "score": rng.choice([1, 2, 3, 4, 4, 5, 5])},
            {"id": 115164, "type": "binary", "score": 5 if rng.random() < 0.78 else 0},
            {"id": 8821, "type": "enum", "enum": rng.choice(resolution)},
            {"id": 7001, "type": "numeric", "score": round(rng.uniform(0.4, 4.0), 2)},
            {"id": 7002, "type": "binary_workflow_adherence", "score": rng.choice([0, 5])},
            {"id": 7003, "type": "observability_topics", "enum": rng.choice(topics)},
            {"id": 7004, "type": "sentiment_v2", "score": round(rng.uniform(0, 5), 1)},
        ]
        metrics = []
        for entry in entries:
            if rng.random() >= 1 / 12:
                entry.setdefault("score", None)
                entry.setdefault("enum", None)
                entry["value"] = entry["enum"]
                entry["name"] = f"metric {entry['id']}"
                metrics.append(entry)
        yield {
            "id": PROJECT * 1_000_000 + index,
            "call_id": f"call_{rng.getrandbits(64):016x}",
            "timestamp": (start - timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "success": rng.random() < 0.5,
            "status": "success",
            "duration": "01:10",
            "metrics": metrics,
        }


def measure(label: str, work: Callable[[], Any]) -> tuple[Any, float, int]:
    """Runs ``work`` twice: once timed, once under tracemalloc (which slows it) for its peak memory."""
    started = time.perf_counter()
    result = work()
    elapsed = time.perf_counter() - started
    tracemalloc.start()
    work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  {label:<40} {elapsed:8.3f} s   peak traced memory {peak / 1024:9.1f} KiB")
    return result, elapsed, peak


def part_one(count: int) -> None:
    live, desired = rubrics()
    print(f"Part 1: evaluator + report over a generator of {count:,} synthetic calls")

    def generate_only() -> int:
        return sum(1 for _ in synthetic_calls(count))

    # Warm-up (imports, caches) so that the first timing is not the odd one out.
    ImpactReport(PROJECT).add_calls(synthetic_calls(1000), live, desired)

    def generate_and_evaluate() -> ImpactReport:
        report = ImpactReport(PROJECT)
        report.add_calls(synthetic_calls(count), live, desired)
        return report

    _, gen_time, _ = measure("generating the calls only", generate_only)
    report, total, _ = measure("generating + evaluating both rubrics", generate_and_evaluate)
    assert isinstance(report, ImpactReport) and report.calls == count
    per_call = (total - gen_time) / count * 1e6
    print(
        f"  evaluation's own cost: {total - gen_time:.3f} s, {per_call:.2f} us/call "
        f"({count / max(total - gen_time, 1e-9):,.0f} calls/s); "
        f"pass->fail {report.pass_to_fail:,}, fail->pass {report.fail_to_pass:,}"
    )


def serve(count: int) -> None:
    """Child process: an emulator whose project 123 has ``count`` calls over SPAN_DAYS days."""
    state = EmulatorState(api_key=API_KEY)
    seed = default_seed()
    project = next(p for p in seed["projects"] if p["id"] == PROJECT)
    agents = [a for a in seed["agents"] if a.get("project") == PROJECT]
    agent_ids = {a["id"] for a in agents}
    metrics = [
        m for m in seed["metrics"] if m.get("project") == PROJECT or agent_ids & set(m.get("agents") or [])
    ]
    state.set_call_logs(
        PROJECT, iter_generated_calls(project, metrics, agents, now=state.now, count=count, days=SPAN_DAYS)
    )
    with start(state) as running:
        print(running.base_url, state.now.isoformat(), flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin


def part_two(count: int, parallelism: int, page_size: int) -> None:
    live, desired = rubrics()
    print(
        f"Part 2: compute_impact over HTTP, {count:,} calls over {SPAN_DAYS} days, "
        f"parallelism {parallelism}, page_size {page_size} (emulator in a child process)"
    )
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(count)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        base_url, now_text = child.stdout.readline().split()
        now = datetime.fromisoformat(now_text)
        with CekuraClient(base_url, API_KEY, timeout=120) as client:

            def run() -> ImpactReport:
                return compute_impact(
                    client,
                    PROJECT,
                    live,
                    desired,
                    now - timedelta(days=SPAN_DAYS),
                    now,
                    parallelism=parallelism,
                    page_size=page_size,
                )

            report, elapsed, _ = measure("fetching + evaluating", run)
        assert isinstance(report, ImpactReport)
        print(
            f"  {report.calls:,} calls, {report.calls / elapsed:,.0f} calls/s; "
            f"pass->fail {report.pass_to_fail:,}, fail->pass {report.fail_to_pass:,}, "
            f"recorded mismatches {report.recorded_mismatches}"
        )
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--parallelism", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return
    print(f"Python {sys.version.split()[0]}")
    part_one(args.calls)
    if not args.skip_http:
        part_two(args.calls, args.parallelism, args.page_size)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"Max RSS of this process: {rss / 1024:.1f} MiB (Linux reports KiB)")


if __name__ == "__main__":
    main()
