"""Ingest throughput on the demo shop: build_warehouse (read, type, clean, ledger, DuckDB) against plain
pandas.read_csv of the same files, measured in the same run.

    .venv/bin/python bench/ingest.py [--scale 1.0] [--seed 7]

Prints one line per step and, last, one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from ecom_insights.demo import make_demo_data
from ecom_insights.plan import parse_plan
from ecom_insights.warehouse import build_warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="demo scale: 1.0 is about 3.4 million rows")
    parser.add_argument("--seed", type=int, default=7, help="demo seed")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="ecom-bench-"))
    started = time.perf_counter()
    files = make_demo_data(folder / "data", seed=args.seed, scale=args.scale)
    generate = time.perf_counter() - started
    rows = sum(sum(1 for _ in open(path, encoding="utf-8")) - 1 for path in files.values())
    print(f"generated {rows:,} rows in {generate:.1f} s")

    # Baseline: the same files read as text by pandas, with no typing, cleaning or storing.
    started = time.perf_counter()
    for path in files.values():
        pd.read_csv(path, dtype=str, keep_default_na=False)
    baseline = time.perf_counter() - started
    print(f"pandas.read_csv of every file: {baseline:.1f} s")

    plan = parse_plan(f"sources: {{adapter: demo, path: {folder / 'data'}, seed: {args.seed}, scale: {args.scale}}}\n"
                      "date_ranges: []\n")
    started = time.perf_counter()
    build_warehouse(plan, folder / "run", force=True)
    ingest = time.perf_counter() - started
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"build_warehouse: {ingest:.1f} s, {rows / ingest:,.0f} rows/s, peak memory {peak_gib:.2f} GiB")
    print(json.dumps({"scale": args.scale, "rows": rows, "generate_seconds": round(generate, 2),
                      "read_csv_seconds": round(baseline, 2), "ingest_seconds": round(ingest, 2),
                      "ingest_rows_per_second": round(rows / ingest), "ingest_vs_read_csv": round(ingest / baseline, 2),
                      "peak_memory_gib": round(peak_gib, 2)}))


if __name__ == "__main__":
    main()
