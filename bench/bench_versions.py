"""This checkout vs another one (e.g. main), one node each on PostgreSQL and on LMDB, same run.

Four real `python -m chinwag.cli serve` nodes (this tree and `--baseline` on a throwaway local
PostgreSQL, fsync on, and on LMDB), echo gateway, JSON prompt round trips from `--concurrency`
sessions for `--seconds`, interleaved rounds. Printed: turns/s of each (median and every round),
PostgreSQL/LMDB of each tree, and this tree/baseline on each engine. On a shared machine the
rounds vary a lot; the medians of interleaved rounds are what to compare.

    git worktree add --detach /tmp/chinwag-main main
    .venv/bin/python bench/bench_versions.py --baseline /tmp/chinwag-main [--rounds 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from bench_cluster import DEFAULTS, make_sessions, stop, turns_per_second  # noqa: E402
from cluster import processes  # noqa: E402
from support.postgres import fresh_database, throwaway_cluster  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    trees = {"this": ROOT, "baseline": args.baseline.resolve()}
    with throwaway_cluster() as pg, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nodes = {}
        try:
            for tree, path in trees.items():
                processes.REPO_ROOT = path  # the node runs that checkout's chinwag
                nodes[f"{tree}-pg"] = processes.start_node(
                    f"{tree}-pg", fresh_database(pg.url), root, **DEFAULTS
                )
                nodes[f"{tree}-lmdb"] = processes.start_node(f"{tree}-lmdb", None, root)
            keys = {name: make_sessions(node, args.concurrency, 0) for name, node in nodes.items()}
            rates: dict[str, list[float]] = {name: [] for name in nodes}
            for _ in range(args.rounds):
                for name, node in nodes.items():
                    rates[name].append(trio.run(turns_per_second, node, keys[name], args.seconds))
        finally:
            stop(*nodes.values())
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name, values in rates.items():
        rounds = " ".join(f"{v:.0f}" for v in values)
        print(f"{name:14s} {median[name]:6.1f} turns/s (rounds: {rounds})")
    print(
        f"postgresql/lmdb: this {median['this-pg'] / median['this-lmdb']:.2f}  "
        f"baseline {median['baseline-pg'] / median['baseline-lmdb']:.2f}"
    )
    print(
        f"this/baseline: postgresql {median['this-pg'] / median['baseline-pg']:.2f}  "
        f"lmdb {median['this-lmdb'] / median['baseline-lmdb']:.2f}"
    )


if __name__ == "__main__":
    main()
