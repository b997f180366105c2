"""Benchmark the next-action LSTM against its baselines on the demo shop's events and on JD JData.

Run from the checkout: `python bench/next_action.py`. The demo is generated at scale 0.31 (about 1 million
events) into a temporary folder; JD JData is read from ../shared/data. Per model it prints the per-action
ROC AUC, buy PR-AUC, HR@10 and NDCG@10 on the held-out period, and its last line is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import pandas as pd

import ecom_insights  # noqa: F401  (selects the JAX backend for Keras)
from ecom_insights.plan import parse_plan
from ecom_insights.users import (
    CandidateConfig,
    NextActionConfig,
    evaluate_next_action,
    fit_next_action,
    read_events,
    time_split,
)
from ecom_insights.warehouse import build_warehouse, connect

PROJECT = Path(__file__).resolve().parents[1]
DATA = PROJECT.parent / "shared" / "data"
MODELS = ["lstm", "last_action", "markov", "popularity", "recent"]


def warehouse(name:str, source:str, work:Path) -> Path:
    "Build (or reuse) the warehouse of one source in `work`."
    plan = parse_plan(f"sources: {source}\ndate_ranges: []\n", source=name)
    return build_warehouse(plan, work / name)


def run(name:str, path:Path, cfg:NextActionConfig, holdout_days:float=14, cutoff:int|None=None) -> dict:
    "Train on the events before the cutoff, score on the rest, print a table, and return the key figures."
    con = connect(path)
    events = read_events(con)
    cutoff = cutoff or time_split(events["ts"], holdout_days=holdout_days)
    model = fit_next_action(events, cutoff, cfg)
    metrics = evaluate_next_action(model, events)
    print(f"\n== {name}: {len(events):,} events, {events['user_id'].nunique():,} users, "
          f"{(events['ts'] < cutoff).sum():,} before the cutoff; trained in {model.train_seconds:.1f} s")
    print("   sizes:", {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics["sizes"].items()})
    columns = [f"auc_{a}" for a in model.vocab] + ["buy_pr_auc", "hr10", "ndcg10", "propensity_pr_auc"]
    print(f"   {'model':<12}" + "".join(f"{c:>18}" for c in columns))
    for m in MODELS:
        row = metrics.get(m, {})
        print(f"   {m:<12}" + "".join(f"{_fmt(row.get(c)):>18}" for c in columns))
    if "calibration_error" in metrics["lstm"]:
        print(f"   buy propensity: calibration error {metrics['lstm']['calibration_error']:.4f}, Brier {metrics['lstm']['brier']:.4f}")
    return {"lstm_buy_pr_auc": metrics["lstm"]["buy_pr_auc"], "markov_buy_pr_auc": metrics["markov"]["buy_pr_auc"],
            "lstm_hr10": metrics["lstm"].get("hr10"), "popularity_hr10": metrics.get("popularity", {}).get("hr10"),
            "train_seconds": model.train_seconds, "train_events": model.train_events}


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)): return "-"
    return f"{v:.4f}"


def _rounded(figures:dict) -> dict:
    return {k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)) for k, v in figures.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the demo files and warehouses (default: a temporary one)")
    parser.add_argument("--demo-scale", type=float, default=0.31, help="demo scale; 0.31 is about 1 million events")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="next_action_"))
    work.mkdir(parents=True, exist_ok=True)

    demo = warehouse("demo", f"{{adapter: demo, path: {work / 'demo-data'}, scale: {args.demo_scale}}}", work)
    jd = warehouse("jd", f"{{adapter: jd, path: {DATA / 'jd-jdata-2017-head30k'}}}", work)
    started = time.perf_counter()
    demo_figures = run("demo", demo, NextActionConfig(), holdout_days=14)
    # The JD extract contains the first hour or so of three days (1 Feb, 1 Mar and 1 Apr 2016, Beijing time). None of the
    # 1 Apr buyers appears earlier, so the held-out period starts on 1 Mar: 16 of its buyers have 1 Feb events.
    jd_candidates = CandidateConfig(lookback_days=31, active_days=31, horizon_days=2, popularity_days=31)
    jd_cutoff = int(pd.Timestamp("2016-03-01", tz="Asia/Shanghai").timestamp())
    jd_figures = run("jd", jd, NextActionConfig(candidates=jd_candidates), cutoff=jd_cutoff)
    seconds_1m = demo_figures.pop("train_seconds") # measured on the demo log of about 1 million events
    demo_figures.pop("train_events"), jd_figures.pop("train_seconds"), jd_figures.pop("train_events")
    print(f"\nbenchmark took {time.perf_counter() - started:.0f} s")
    print(json.dumps({"demo": _rounded(demo_figures), "jd": _rounded(jd_figures), "train_seconds_1m_events": round(seconds_1m, 1)}))


if __name__ == "__main__":
    main()
