"""Shared fixtures: where the public data and failure cases live, and runs of the plans that several tests read."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECOM_INSIGHTS_SHARED", PROJECT.parent / "shared")).resolve()
DATA = SHARED / "data"
CASES = SHARED / "cases"


def require(path: Path) -> Path:
    """Fail (not skip) when the public data or a case is missing: CI must have them beside the checkout."""
    assert path.exists(), f"{path} is missing: the tests read the shared data and cases beside the checkout"
    return path


def run_plan_file(plan_path: Path, output: Path, workers: int = 2):
    """Run a plan into `output` and return the RunResult."""
    from ecom_insights.plan import read_plan
    from ecom_insights.runner import run_plan
    return run_plan(read_plan(plan_path), output=output, workers=workers)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The demo plan, run once for the whole session."""
    return run_plan_file(PROJECT / "params" / "demo.yaml", tmp_path_factory.mktemp("demo") / "run")


@pytest.fixture(scope="session")
def olist_run(tmp_path_factory):
    require(DATA / "olist-sample")
    return run_plan_file(PROJECT / "params" / "olist.yaml", tmp_path_factory.mktemp("olist") / "run")


@pytest.fixture(scope="session")
def online_retail_run(tmp_path_factory):
    require(DATA / "online-retail" / "by-day")
    return run_plan_file(PROJECT / "params" / "online_retail.yaml", tmp_path_factory.mktemp("online_retail") / "run")
