"""Inventory policies on held-out weeks: reorder points from the demand VAE against the normal approximation, on Online
Retail items and on the demo shop.

    .venv/bin/python bench/inventory.py [--work /tmp/ecom-bench-inventory] [--holdout 8]

Each data set's last `--holdout` complete weeks are held out. Everything before them is the training data: it decides
which items are pooled, trains the VAE, and calibrates its scenarios on a backtest over the last training weeks. No
setting is chosen by looking at the held-out weeks. At every held-out origin both policies read only the weeks before
it. Prints a table per data set and, last, one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from statistics import NormalDist

import pandas as pd

from ecom_insights.inventory import (
    POLICY_NAMES,
    InventorySettings,
    build_demand,
    calibration_factor,
    evaluate_policies,
    fit_inventory,
    service_metrics,
    vae_reorder_point,
)
from ecom_insights.warehouse import connect

from common import warehouse

NAMES = {**POLICY_NAMES, "calibrated_baseline": "normal approximation, calibrated"}


def table(metrics: pd.DataFrame, title: str) -> None:
    """Print service level, average stock and mean reorder point per policy."""
    labelled = metrics.rename(index=NAMES).rename(columns={
        "service_level": "service level", "avg_stock": "avg stock (units)", "mean_reorder_point": "mean reorder point",
        "key_origins": "key-origins"})
    print(f"\n{title}")
    print(labelled.round({"service level": 4, "avg stock (units)": 2, "mean reorder point": 2}).to_string())


def calibrated_baseline(train: pd.DataFrame, rows: pd.DataFrame, level: float) -> tuple[pd.Series, float]:
    """Return reorder points of the normal approximation with its upper tail stretched like the VAE's, and the stretch.

    The stretch is calibrated on the training backtest only, the same way as the VAE's. It is not a policy the reports can
    choose; it shows what the baseline would have to hold to reach the target.
    """
    z = NormalDist().inv_cdf(level)
    as_quantiles = lambda r: r.assign(median=r["baseline_mean"], upper=r["baseline_mean"] + z * r["baseline_std"])
    stretch = calibration_factor(as_quantiles(train), level)
    scored = as_quantiles(rows)
    return pd.Series(vae_reorder_point(scored["median"], scored["upper"], stretch), index=rows.index), stretch


def run_dataset(name: str, work: Path, holdout: int, settings: InventorySettings) -> dict:
    """Train on the weeks before the held-out ones, score both policies on the held-out weeks, print and return the figures."""
    started = time.perf_counter()
    with connect(warehouse(name, work)) as con:
        weeks = sorted(build_demand(con, settings).weekly["ds"].unique())
        holdout_start = pd.Timestamp(weeks[-holdout])
        demand = build_demand(con, settings, cutoff=holdout_start) # only the training weeks decide which items are pooled
    train = demand.before(holdout_start)
    levels = demand.keys["level"].value_counts()
    print(f"\n== {name}: {len(demand.keys):,} keys ({levels.get('item', 0):,} item × store, {levels.get('category_region', 0):,} "
          f"pooled category × region), training weeks {pd.Timestamp(weeks[0]).date()}..{(holdout_start - pd.Timedelta(days=1)).date()}, "
          f"held out {holdout_start.date()}..{(pd.Timestamp(weeks[-1]) + pd.Timedelta(days=6)).date()}")

    fitted = time.perf_counter()
    run = fit_inventory(train, settings, work / "models" / name)
    print(f"{'loaded saved' if run.reused else 'trained, backtested and calibrated'} inventory model in {time.perf_counter() - fitted:.0f} s "
          f"(VAE: {run.meta.get('windows', 0):,} windows, {run.meta.get('epochs', 0)} epochs, {run.meta.get('train_seconds', 0):.0f} s); "
          f"calibration stretch {run.calibration:.3f}")
    print("key status: " + ", ".join(f"{s} {n:,}" for s, n in run.status["status"].value_counts().items()))
    table(run.metrics, f"training backtest: {run.backtest['origin'].nunique() if len(run.backtest) else 0} origins in the last "
          "training weeks, each calibrated on the others")
    print(f"policy chosen: {POLICY_NAMES[run.policy]}. {run.policy_reason}")

    # Origins in the held-out weeks whose whole lead time is observed.
    origins = [pd.Timestamp(w) for w in weeks[-holdout : len(weeks) - settings.lead_time_weeks + 1]]
    rows = evaluate_policies(run, demand, origins)
    rows["calibrated_baseline_rop"], stretch = calibrated_baseline(run.backtest, rows, settings.service_level)
    held_out = service_metrics(rows)
    table(held_out, f"held-out weeks: {len(origins)} origins, target service level {settings.service_level:.0%} "
          f"(calibrated baseline: stretch {stretch:.3f} from the training backtest, for comparison only)")
    vae, base, calibrated = held_out.loc["vae"], held_out.loc["baseline"], held_out.loc["calibrated_baseline"]
    target = settings.service_level
    if abs(vae["service_level"] - target) > settings.tolerance:
        print(f"On {name} the VAE policy's held-out service level ({vae['service_level']:.1%}) is more than "
              f"{settings.tolerance * 100:g} points from the target ({target:.0%}).")
    both = min(vae["service_level"], base["service_level"]) >= target - settings.tolerance
    if both and vae["avg_stock"] > base["avg_stock"]:
        print(f"On {name} both policies reach the target on the held-out weeks and the VAE holds more stock "
              f"({vae['avg_stock']:.2f} against {base['avg_stock']:.2f} units).")
    if calibrated["service_level"] >= target - settings.tolerance and vae["avg_stock"] > calibrated["avg_stock"]:
        print(f"On {name} the normal approximation, calibrated like the VAE, also reaches the target "
              f"({calibrated['service_level']:.1%}) and holds less stock ({calibrated['avg_stock']:.2f} against {vae['avg_stock']:.2f} units).")
    seconds = time.perf_counter() - started
    print(f"{name} took {seconds:.0f} s")
    return {"target": target, "vae_service_level": round(vae["service_level"], 4),
            "baseline_service_level": round(base["service_level"], 4), "vae_avg_stock": round(vae["avg_stock"], 3),
            "baseline_avg_stock": round(base["avg_stock"], 3), "policy": run.policy,
            "calibrated_baseline_service_level": round(calibrated["service_level"], 4),
            "calibrated_baseline_avg_stock": round(calibrated["avg_stock"], 3), "baseline_stretch": round(stretch, 4),
            "train_vae_service_level": round(run.metrics.loc["vae", "service_level"], 4) if "vae" in run.metrics.index else None,
            "train_baseline_service_level": round(run.metrics.loc["baseline", "service_level"], 4) if len(run.metrics) else None,
            "calibration": round(run.calibration, 4), "keys": len(demand.keys), "key_origins": int(vae["key_origins"]),
            "seconds": round(seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ecom-bench-inventory"), help="warehouses and saved models")
    parser.add_argument("--holdout", type=int, default=8, help="complete weeks held out at the end of each data set")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    settings = InventorySettings()
    figures = {name: run_dataset(name, args.work, args.holdout, settings) for name in ("online_retail", "demo")}
    figures["seconds"] = round(time.perf_counter() - started, 1)
    print(f"\ntotal {figures['seconds']:.0f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
