"""Shared benchmark setup: the warehouses of Online Retail and of the demo shop, built under a work folder."""
from __future__ import annotations

from pathlib import Path

from ecom_insights.plan import parse_plan, read_plan
from ecom_insights.warehouse import build_warehouse

PROJECT = Path(__file__).resolve().parents[1]


def warehouse(name: str, work: Path) -> Path:
    """Build (or reuse) the warehouse of Online Retail or the demo shop under `work`."""
    if name == "online_retail":
        plan = read_plan(PROJECT / "params" / "online_retail.yaml")
    else:
        plan = parse_plan(f"sources: {{adapter: demo, path: {work / 'demo-data'}, seed: 7, scale: 1.0}}\ndate_ranges: []\n")
    return build_warehouse(plan, work / name)
