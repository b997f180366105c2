"""The sales forecast on the failure cases F20 (history shorter than the look-back) and F21 (series without variation),
and reuse of a saved forecaster."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from ecom_insights.forecast import (
    ForecastSettings,
    fit_forecaster,
    make_windows,
    prepare_series,
    series_status,
    training_pairs,
)
from ecom_insights.warehouse import connect

from conftest import CASES, require

QUICK = {"epochs": 3, "units": 8, "backtest_windows": 2} # enough to check shapes and values, not accuracy


def case_series(case: str) -> pd.DataFrame:
    frame = pd.read_csv(require(CASES / case / "daily_sales.csv"), dtype={"store_id": str}, parse_dates=["date"])
    return frame.rename(columns={"store_id": "unique_id", "date": "ds", "units": "y"}).astype({"y": float})


@pytest.fixture(scope="module")
def f20(tmp_path_factory):
    params = yaml.safe_load((CASES / "F20" / "params.yaml").read_text())
    settings = ForecastSettings(lookback=params["lookback_days"], horizon=params["horizon_days"], **QUICK)
    series = case_series("F20")
    return series, settings, fit_forecaster(series, settings, tmp_path_factory.mktemp("f20") / "models" / "forecast")


def test_f20_long_store_windows_and_forecast(f20):
    series, settings, run = f20
    expected = json.loads((CASES / "F20" / "expected.json").read_text())["S01"]
    prepared = prepare_series(series, settings)
    pairs = training_pairs(prepared, series_status(series, settings), settings)
    assert len(prepared["S01"][0]) == expected["history_days"]
    assert len([p for p in pairs if p[0] == "S01"]) == expected["supervised_windows_lookback7_step1"]
    out = run.chosen().query("unique_id == 'S01'")
    assert out["ds"].dt.strftime("%Y-%m-%d").tolist() == expected["forecast_dates"]
    assert len(out) == 7
    assert np.isfinite(out["median"]).all()
    assert (out["median"] >= 0).all()


def test_f20_short_store_skipped_with_reason(f20):
    series, _, run = f20
    expected = json.loads((CASES / "F20" / "expected.json").read_text())["S02"]
    choice = run.choices.set_index("unique_id").loc["S02"]
    assert choice["model"] == "none"
    assert choice["reason"] == expected["message"]
    assert "S02" not in set(run.chosen()["unique_id"]) # forecast skipped
    assert series.query("unique_id == 'S02'")["y"].sum() == expected["descriptive_kpis"]["units"] # its KPIs are still there


def test_f21_flat_series_forecast(tmp_path):
    expected = json.loads((CASES / "F21" / "expected.json").read_text())
    series = case_series("F21")
    settings = ForecastSettings(lookback=7, horizon=7, **QUICK)

    # Scaled features of every window of every series, the flat ones included, contain no NaN.
    prepared = prepare_series(series, settings)
    everything = pd.DataFrame({"unique_id": list(prepared), "status": "model"})
    windows = make_windows(prepared, training_pairs(prepared, everything, settings), settings)
    nan = sum(int(np.isnan(a).sum()) for a in (windows.history, windows.future, windows.static, windows.target))
    assert nan == expected["nan_in_scaled_features"]

    run = fit_forecaster(series, settings, tmp_path)
    use = run.choices.set_index("unique_id")
    out = run.chosen().groupby("unique_id")["median"]
    assert use.loc["S03", "reason"] == expected["S03"]["flag"]
    assert (out.get_group("S03") == 0).all()
    assert use.loc["S04", "reason"] == expected["S04"]["flag"]
    assert np.allclose(out.get_group("S04"), 5, atol=0.5)
    assert use.loc["S05", "model"] in ("lstm", "snaive", "ets") # the normal model path: backtested, then chosen
    assert set(run.forecasts.query("unique_id == 'S05'")["model"]) == {"lstm", "snaive", "ets"}
    assert np.isfinite(run.forecasts[["lo", "median", "hi"]].to_numpy(float)).all()


def test_saved_forecaster_reuse(f20, tmp_path):
    series, settings, _ = f20
    folder = tmp_path / "models" / "forecast"
    first = fit_forecaster(series, settings, folder)
    again = fit_forecaster(series, settings, folder)
    assert not first.reused
    assert again.reused
    assert again.fingerprint == first.fingerprint
    pd.testing.assert_frame_equal(again.chosen()[["unique_id", "median"]], first.chosen()[["unique_id", "median"]], atol=1e-6)
    prepared = prepare_series(series, settings)
    assert np.allclose(again.lstm.predict(prepared, [("S01", 30)]), first.lstm.predict(prepared, [("S01", 30)]), atol=1e-4)


    # A changed day or a changed setting trains again.
    changed = series.assign(y=series["y"] + (series["ds"] == series["ds"].max()))
    assert not fit_forecaster(changed, settings, folder).reused
    assert not fit_forecaster(series, ForecastSettings(lookback=6, horizon=7, **QUICK), folder).reused


def test_run_forecasts_each_scope_from_its_origin(demo_run):
    """The demo run forecasts every reported scope once, from the last day of its latest period, with no later day."""
    folder = demo_run.run_dir / "models" / "forecast"
    origin = json.loads((folder / "origin.json").read_text())["origin"]
    runs = pd.read_csv(demo_run.run_dir / "runs.csv", dtype=str)
    assert origin == runs["end"].max()
    series = pd.read_csv(folder / "series.csv", dtype={"scope_id": str, "key": str})
    totals = series[series["part"] == "total"]
    assert set(zip(totals["kind"], totals["scope_id"])) == set(zip(runs["scope_kind"], runs["scope_id"]))
    forecasts = pd.read_csv(folder / "forecasts.csv", parse_dates=["ds"])
    assert forecasts["ds"].min() == pd.Timestamp(origin) + pd.Timedelta(days=1)

    # Each total's last period equals the store's net revenue over the horizon's number of days up to the origin.
    horizon = json.loads((folder / "origin.json").read_text())["horizon"]
    with connect(demo_run.run_dir / "warehouse.duckdb") as con:
        expected = dict(con.execute("""SELECT store_id, SUM(amount)::DOUBLE FROM sales
                                       WHERE order_date BETWEEN ?::DATE - ? + 1 AND ?::DATE GROUP BY 1""",
                                    [origin, horizon, origin]).fetchall())
    stores = totals[totals["kind"] == "store"].set_index("scope_id")["last_period"]
    for store, value in stores.items():
        assert value == pytest.approx(expected[store], abs=0.01), store


def test_run_lstm_only_where_it_won(demo_run):
    folder = demo_run.run_dir / "models" / "forecast"
    choices = pd.read_csv(folder / "choices.csv", dtype=str)
    mase = pd.read_csv(folder / "backtest.csv").pivot_table(index="unique_id", columns="model", values="mase")
    lstm = choices[choices["model"] == "lstm"]["unique_id"]
    assert (mase.loc[lstm, "lstm"] < mase.loc[lstm, "snaive"]).all()
    assert (mase.loc[lstm, "lstm"] < mase.loc[lstm, "ets"]).all()
    others = choices[choices["model"].isin(["snaive", "ets"])]["unique_id"]
    tested = [u for u in others if u in mase.index]
    beaten = (mase.loc[tested, "lstm"] >= mase.loc[tested, "snaive"]) | (mase.loc[tested, "lstm"] >= mase.loc[tested, "ets"])
    assert beaten.all()
    for uid, model in choices.set_index("unique_id")["model"].items(): # the better baseline where the LSTM lost
        if uid in tested and model != "lstm":
            assert mase.loc[uid, model] == min(mase.loc[uid, "snaive"], mase.loc[uid, "ets"]), uid


def test_forecast_shown_only_in_reports_ending_at_origin(demo_run):
    folder = demo_run.run_dir / "models" / "forecast"
    origin = json.loads((folder / "origin.json").read_text())["origin"]
    runs = pd.read_csv(demo_run.run_dir / "runs.csv", dtype=str)
    shown = 0
    for row in runs.itertuples():
        insights = json.loads((demo_run.run_dir / row.report_dir / "insights.json").read_text())
        kinds = {f["kind"] for f in insights["facts"]}
        notebook = (demo_run.run_dir / row.report_dir / "report.ipynb").read_text()
        if row.end == origin:
            assert "forecast" in kinds, row.report_dir
            assert "热销预测商品" in notebook # the hot products table of the zh-CN report
            shown += 1
        else:
            assert "forecast" not in kinds, row.report_dir
            assert "销售预测每次运行做一次" in notebook
    assert shown >= 1
