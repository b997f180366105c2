"""Sales forecast on held-out days: the global LSTM against seasonal naive and exponential smoothing, on Online Retail
and on the demo shop, plus the LSTM's training time on 1,000 demo series of two years.

    .venv/bin/python bench/forecast.py [--work /tmp/ecom-bench-forecast] [--holdout 28]

Each data set's last `--holdout` days are held out. Everything before them is the training data: the backtest that
chooses a model per series runs on it alone, and no setting is chosen by looking at the held-out days. Prints a table
per data set and, last, one JSON object with the figures.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ecom_insights.forecast import (
    MODEL_NAMES,
    ForecastSettings,
    build_series,
    fit_forecaster,
    fit_lstm,
    score_forecasts,
)
from ecom_insights.warehouse import connect

from common import warehouse


def named(frame: pd.DataFrame, prefix: str) -> pd.DataFrame:
    return frame.assign(unique_id=prefix + frame["unique_id"])


def online_retail_series(con, holdout_start: pd.Timestamp) -> pd.DataFrame:
    """Return daily net revenue per country and daily units of the 200 best-selling items (ranked before the held-out days)."""
    revenue = named(build_series(con, "region", "revenue"), "revenue: ")
    top = build_series(con, "item", "units", end=holdout_start - pd.Timedelta(days=1), top=200)["unique_id"].unique()
    units = build_series(con, "item", "units")
    return pd.concat([revenue, named(units[units["unique_id"].isin(top)], "units: ")], ignore_index=True)


def demo_series(con) -> pd.DataFrame:
    """Return daily net revenue per store x category and per region x category."""
    return pd.concat([named(build_series(con, "store_category"), "store: "),
                      named(build_series(con, "region_category"), "region: ")], ignore_index=True)


def held_out(series: pd.DataFrame, run, holdout_start: pd.Timestamp, settings: ForecastSettings) -> pd.DataFrame:
    """Score every model's forecast of the held-out days, plus a 'chosen' row per series (the model the report uses)."""
    chosen = run.chosen().assign(model="chosen")
    scored = score_forecasts(pd.concat([run.forecasts, chosen]), series, settings)
    return scored[scored["cutoff"] < holdout_start]


def table(metrics: pd.DataFrame, label: str) -> pd.DataFrame:
    """Print and return the mean metrics per model over the series that all three models forecast."""
    both = metrics.pivot_table(index="unique_id", columns="model", values="mase").dropna(subset=["lstm", "snaive", "ets"]).index
    rows = metrics[metrics["unique_id"].isin(both)].groupby("model")[["mase", "smape", "pinball", "coverage"]].mean()
    rows = rows.reindex([m for m in ("lstm", "snaive", "ets", "chosen") if m in rows.index])
    rows.index = [MODEL_NAMES.get(m, "chosen per series") for m in rows.index]
    print(f"\n{label}: {len(both)} series, mean over series (held-out days)")
    print(rows.round(3).to_string())
    return rows


def run_dataset(name: str, work: Path, holdout: int) -> dict:
    path = warehouse(name, work)
    with connect(path) as con:
        last = pd.Timestamp(con.execute("SELECT MAX(order_date) FROM sales").fetchone()[0])
        holdout_start = last - pd.Timedelta(days=holdout - 1)
        series = online_retail_series(con, holdout_start) if name == "online_retail" else demo_series(con)
    settings = ForecastSettings(horizon=holdout, country="GB" if name == "online_retail" else "CN")
    train = series[series["ds"] < holdout_start]
    print(f"\n== {name}: {series['unique_id'].nunique()} series, training days up to {holdout_start.date() - pd.Timedelta(days=1)}, "
          f"held out {holdout_start.date()}..{last.date()}")

    started = time.perf_counter()
    run = fit_forecaster(train, settings, work / "models" / name)
    print(f"{'loaded saved' if run.reused else 'backtested and trained'} forecaster in {time.perf_counter() - started:.0f} s")
    print("backtest (training days only, rolling origins), mean per model:")
    print(run.summary().round(3).to_string())

    metrics = held_out(series, run, holdout_start, settings)
    rows = table(metrics, name)
    use = run.choices["model"].value_counts()
    print("model used per series: " + ", ".join(f"{MODEL_NAMES[m]} {n}" for m, n in use.items()))
    lstm, snaive, ets = (rows.loc[MODEL_NAMES[m], "mase"] for m in ("lstm", "snaive", "ets"))
    if lstm >= snaive or lstm >= ets:
        beaten = " and ".join(MODEL_NAMES[m] for m, v in (("snaive", snaive), ("ets", ets)) if lstm >= v)
        print(f"On {name} the LSTM's mean MASE ({lstm:.3f}) is not lower than {beaten}'s; "
              "the report uses the LSTM only for the series where it won the backtest and the better baseline elsewhere.")
    coverage = rows.loc["LSTM", "coverage"]
    if not 0.70 <= coverage <= 0.90:
        print(f"On {name} the LSTM's 80% interval covered {coverage:.1%} of the held-out days, outside 70-90%.")
    return {"lstm_mase": round(lstm, 4), "snaive_mase": round(snaive, 4), "ets_mase": round(ets, 4),
            "lstm_coverage80": round(rows.loc["LSTM", "coverage"], 4),
            "lstm_smape": round(rows.loc["LSTM", "smape"], 2), "snaive_smape": round(rows.loc["seasonal naive", "smape"], 2),
            "ets_smape": round(rows.loc["exponential smoothing", "smape"], 2),
            "chosen_mase": round(rows.loc["chosen per series", "mase"], 4),
            "lstm_interval_margin": round(run.lstm.margin, 4) if run.lstm else None,
            "lstm_series": int(use.get("lstm", 0)), "series": int(series["unique_id"].nunique())}


def two_year_series(work: Path, count: int = 1000, days: int = 730) -> pd.DataFrame:
    """Return the `count` best-selling store x item daily unit series of the demo shop, lengthened to `days` days.

    The demo covers 457 days; the missing days before it repeat the same weekdays of the following year (364 days later).
    """
    with connect(warehouse("demo", work)) as con:
        frame = con.execute("SELECT store_id || ' / ' || item_id AS unique_id FROM sales GROUP BY 1 ORDER BY SUM(quantity) DESC LIMIT ?",
                            [count]).df()
        first, last = (pd.Timestamp(d) for d in con.execute("SELECT MIN(order_date), MAX(order_date) FROM sales").fetchone())
        daily = con.execute("""SELECT store_id || ' / ' || item_id AS unique_id, order_date AS ds, SUM(quantity)::DOUBLE AS y
                               FROM sales GROUP BY ALL""").df()
    grid = pd.MultiIndex.from_product([frame["unique_id"], pd.date_range(first, last)], names=["unique_id", "ds"])
    daily["ds"] = pd.to_datetime(daily["ds"])
    y = daily.set_index(["unique_id", "ds"])["y"].reindex(grid, fill_value=0.0).to_numpy().reshape(count, -1)
    extra = days - y.shape[1]
    y = np.concatenate([y[:, 364 - extra : 364], y], axis=1)
    dates = pd.date_range(last - pd.Timedelta(days=days - 1), last)
    return pd.DataFrame({"unique_id": np.repeat(frame["unique_id"].to_numpy(), days), "ds": np.tile(dates, count), "y": y.ravel()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/ecom-bench-forecast"), help="warehouses and saved models")
    parser.add_argument("--holdout", type=int, default=28, help="days held out at the end of each data set")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)

    figures = {name: run_dataset(name, args.work, args.holdout) for name in ("online_retail", "demo")}

    series = two_year_series(args.work)
    started = time.perf_counter()
    lstm = fit_lstm(series, ForecastSettings(country="CN"))
    seconds = time.perf_counter() - started
    print(f"\nLSTM on {series['unique_id'].nunique():,} demo series of {series.groupby('unique_id').size().iat[0]} days: "
          f"{seconds:.0f} s ({lstm.windows:,} windows, {lstm.epochs} epochs)")
    figures["train_seconds_1000_series"] = round(seconds, 1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
