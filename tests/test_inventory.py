"""Inventory policy: keys without demand or with more returns than sales, reorder points against known distributions,
the normal approximation by hand, stock allocation, stock-out risk, stock-on-hand validation and reuse of a saved run."""
from __future__ import annotations

import itertools
import math
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ecom_insights.inventory import (
    Demand,
    InventoryError,
    InventorySettings,
    allocate_item,
    allocate_stock,
    build_demand,
    calibration_factor,
    check_on_hand,
    evaluate_policies,
    fit_inventory,
    lead_time_normal,
    load_inventory,
    normal_reorder_point,
    normal_stockout_risk,
    reorder_table,
    scenario_policy,
    scenario_stockout_risk,
    vae_reorder_point,
)

QUICK = {"history_weeks": 6, "calibration_origins": 3, "scenarios": 200, "epochs": 2, "units": 16} # shapes and values, not accuracy
WEEKS = 30


def synthetic_demand(weeks: int = WEEKS) -> Demand:
    """Return the first `weeks` weeks of seven item × store keys: four sellers, one without demand, one with more returns
    than sales, and one that starts three weeks before week WEEKS."""
    rng, total = np.random.default_rng(0), WEEKS + 10
    t = np.arange(total)
    series = {
        "i1 / A": rng.poisson(4, total), "i1 / B": rng.poisson(9, total), "i2 / A": rng.poisson(20, total),
        "i3 / A": rng.poisson(2, total) - (t % 5 == 0), # a return every fifth week, net positive
        "i4 / A": np.zeros(total), # no demand
        "i5 / A": np.where(t % 4 == 0, -2, 0) + (t % 8 == 0), # returns exceed sales
        "i6 / B": np.where(t >= WEEKS - 3, rng.poisson(5, total), -1), # -1 marks the weeks before its first
    }
    frame = pd.DataFrame({"unique_id": np.repeat(list(series), total), "ds": np.tile(pd.date_range("2024-01-01", periods=total, freq="7D"), len(series)),
                          "y": np.concatenate(list(series.values())).astype(float), "week": np.tile(t, len(series))})
    started = ~((frame["unique_id"] == "i6 / B") & (frame["week"] < WEEKS - 3))
    weekly = frame[started & (frame["week"] < weeks)].drop(columns="week").reset_index(drop=True)
    item, store = zip(*(k.split(" / ") for k in series))
    keys = pd.DataFrame({"unique_id": list(series), "level": "item", "item_id": item, "store_id": store, "category": "toys",
                         "region": "north", "pairs": 1, "note": ""})
    return Demand(weekly, keys, keys[["item_id", "store_id", "unique_id"]].copy())


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inventory") / "models" / "inventory"
    demand, settings = synthetic_demand(), InventorySettings(**QUICK)
    return demand, settings, folder, fit_inventory(demand, settings, folder)


def test_key_status_reasons(fitted):
    _, _, _, run = fitted
    status = run.status.set_index("unique_id")
    assert status.loc["i4 / A", "status"] == "no_demand"
    assert status.loc["i4 / A", "reason"] == f"no demand in any of its {WEEKS} weeks"
    assert status.loc["i5 / A", "status"] == "returns_exceed_sales"
    assert status.loc["i5 / A", "reason"].startswith("returns exceed sales: net demand -")
    assert status.loc["i6 / B", "status"] == "short_history"
    assert status.loc["i3 / A", "status"] == "model"


def test_zero_and_negative_keys_finite(fitted):
    _, _, _, run = fitted
    on_hand = pd.DataFrame({"item_id": ["i1", "i3", "i4", "i5", "i6"], "store_id": ["A", "A", "A", "A", "B"], "on_hand": [3, 0, 0, 2, 1]})
    table = reorder_table(run, on_hand).set_index("unique_id")
    values = table[["mean_demand", "reorder_point", "safety_stock"]].to_numpy(float)
    assert np.isfinite(values).all()
    for uid in ("i4 / A", "i5 / A"):
        assert table.loc[uid, "reorder_point"] == 0
        assert table.loc[uid, "safety_stock"] == 0
        assert table.loc[uid, "stockout_risk"] == 0
        assert table.loc[uid, "policy"] == "none"
    assert table.loc["i5 / A", "reason"].startswith("returns exceed sales")
    assert table.loc["i4 / A", "reason"].startswith("no demand")
    assert np.isfinite(run.scenarios).all()
    risks_given = table["stockout_risk"].dropna().to_numpy(float)
    assert len(risks_given) == 5
    assert np.isfinite(risks_given).all()


def test_keys_from_warehouse_without_demand(tmp_path):
    # A sale and its return in the same week leave a key whose every week is zero; a lone return leaves negative demand.
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("CREATE TABLE sales (item_id VARCHAR, store_id VARCHAR, region VARCHAR, category VARCHAR, order_date DATE, quantity DOUBLE)")
    days = pd.date_range("2024-01-01", periods=7 * 12)
    rows = [("i1", "A", "north", "toys", d.date(), 1.0) for d in days] # every day, so every week is complete
    rows += [("i2", "A", "north", "toys", days[2].date(), 3.0), ("i2", "A", "north", "toys", days[4].date(), -3.0)]
    rows += [("i3", "A", "north", "toys", days[9].date(), -4.0)]
    db.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?)", rows)
    demand = build_demand(db, InventorySettings())
    status = fit_inventory(demand, InventorySettings(**QUICK)).status.set_index("unique_id")
    assert status.loc["i2 / A", "reason"] == "no demand in any of its 12 weeks"
    assert status.loc["i3 / A", "reason"] == "returns exceed sales: net demand -4 units over 11 weeks"


def test_build_demand_pools_sparse_items(tmp_path):
    db = duckdb.connect(str(tmp_path / "w.duckdb"))
    db.execute("CREATE TABLE sales (item_id VARCHAR, store_id VARCHAR, region VARCHAR, category VARCHAR, order_date DATE, quantity DOUBLE)")
    days = pd.date_range("2024-01-03", periods=7 * 10) # Wednesday to Tuesday: first and last weeks incomplete
    rows = [("i1", "A", "north", "toys", d.date(), 6.0) for d in days if d.weekday() == 6]
    rows += [(i, s, "north", "toys", d.date(), 1.0) for d in days[::21] for i, s in (("i2", "A"), ("i3", "B"))]
    db.executemany("INSERT INTO sales VALUES (?, ?, ?, ?, ?, ?)", rows)
    demand = build_demand(db, InventorySettings())
    weekly = demand.weekly.set_index(["unique_id", "ds"])["y"]
    assert sorted(demand.keys["unique_id"]) == ["i1 / A", "toys / north / pooled"]
    assert demand.weekly["ds"].min() == pd.Timestamp("2024-01-08")
    assert demand.weekly["ds"].max() == pd.Timestamp("2024-03-04")
    assert weekly["i1 / A"].tolist() == [6.0] * 9
    assert weekly["toys / north / pooled"].sum() == 2 * 3 # the first sale falls in the dropped first week
    assert set(demand.members.query("unique_id == 'toys / north / pooled'")["item_id"]) == {"i2", "i3"}


def test_poisson_reorder_point():
    # The 95% quantile of Poisson(20) is 28: P(X <= 27) = 0.9475 and P(X <= 28) = 0.9657.
    scenarios = np.random.default_rng(0).poisson(20, 200_000).astype(float)
    policy = scenario_policy(scenarios, 0.95)
    assert policy["reorder_point"] == 28
    assert abs(policy["mean_demand"] - 20) < 0.05
    assert abs(policy["safety_stock"] - 8) < 0.05


def test_normal_reorder_point():
    scenarios = np.random.default_rng(1).normal(200, 30, 200_000)
    policy = scenario_policy(scenarios, 0.95)
    assert abs(policy["reorder_point"] - (200 + 1.6449 * 30)) < 0.6
    assert abs(policy["safety_stock"] - 1.6449 * 30) < 0.6
    assert abs(scenario_stockout_risk(scenarios, policy["reorder_point"]) - 0.05) < 1e-3


def test_baseline_reorder_point_by_hand(fitted):
    demand, settings, _, run = fitted
    weekly = demand.weekly.set_index("unique_id")
    last = weekly.loc["i1 / B", "y"].to_numpy()[-settings.history_weeks :]
    mean_week = sum(last) / len(last)
    std_week = math.sqrt(sum((v - mean_week) ** 2 for v in last) / (len(last) - 1))
    mean_lt, std_lt = 2 * mean_week, math.sqrt(2) * std_week
    assert np.allclose(lead_time_normal(last, 2), (mean_lt, std_lt))
    assert np.isclose(normal_reorder_point(mean_lt, std_lt, 0.95), mean_lt + 1.6448536 * std_lt)
    baseline = run.baseline.set_index("unique_id")
    assert np.isclose(baseline.loc["i1 / B", "mean"], mean_lt)
    assert np.isclose(baseline.loc["i1 / B", "std"], std_lt)

    # The three-week-old key always takes the normal approximation over the weeks it has, its spread at least Poisson's.
    young = weekly.loc["i6 / B", "y"].to_numpy()
    m = 2 * young.mean()
    s = max(math.sqrt(2) * young.std(ddof=1), math.sqrt(m))
    row = reorder_table(run).set_index("unique_id").loc["i6 / B"]
    assert row["policy"] == "baseline"
    assert np.isclose(row["reorder_point"], m + 1.6448536 * s)
    assert np.isclose(row["safety_stock"], 1.6448536 * s)


def test_allocation_maximises_expected_sales():
    rng = np.random.default_rng(4)
    scenarios = {"S1": rng.poisson(3, 3000), "S2": rng.poisson(8, 3000), "S3": rng.normal(5, 4, 3000)}
    total = 14
    out = allocate_stock(scenarios, total).set_index("store")
    assert out["allocation"].sum() == total
    sales = lambda split: sum(np.minimum(np.maximum(scenarios[s], 0), q).mean() for s, q in zip(scenarios, split))
    best = max(sales(split) for split in itertools.product(range(total + 1), repeat=3) if sum(split) == total)
    assert np.isclose(out["expected_sales"].sum(), best)
    assert out["expected_sales"].sum() > sales((5, 5, 4))


def test_allocation_edge_cases():
    assert allocate_stock({"A": [1.0, 2.0], "B": [0.0, 0.0]}, 0)["allocation"].tolist() == [0, 0]
    assert allocate_stock({"A": [1.0], "B": [1.0]}, 5)["allocation"].sum() == 5
    with pytest.raises(InventoryError, match="total stock is 2.5; it must be a whole number"):
        allocate_stock({"A": [1.0]}, 2.5)


def test_allocate_item_across_stores(fitted):
    _, _, _, run = fitted
    out = allocate_item(run, "i1", 12)
    assert sorted(out["store_id"]) == ["A", "B"]
    assert out["allocation"].sum() == 12
    assert out.set_index("store_id").loc["B", "allocation"] >= out.set_index("store_id").loc["A", "allocation"] # B sells more
    with pytest.raises(InventoryError, match="item 'i4' has no scenarios of its own"):
        allocate_item(run, "i4", 5)


def test_stockout_risk_monotone(fitted):
    _, _, _, run = fitted
    risks = []
    for units in (0, 2, 5, 10, 20, 40, 80):
        on_hand = pd.DataFrame({"item_id": ["i1", "i2", "i6"], "store_id": ["B", "A", "B"], "on_hand": units})
        risks.append(reorder_table(run, on_hand).set_index("unique_id").loc[["i1 / B", "i2 / A", "i6 / B"], "stockout_risk"].to_numpy(float))
    risks = np.array(risks)
    assert (np.diff(risks, axis=0) <= 0).all()
    assert (risks[0] > 0.9).all()
    assert (risks[-1] < 0.05).all()
    scenarios = np.random.default_rng(0).gamma(2, 5, 1000)
    curve = [scenario_stockout_risk(scenarios, h) for h in range(60)]
    assert all(a >= b for a, b in zip(curve, curve[1:]))
    normal = [normal_stockout_risk(10, 3, h) for h in range(30)]
    assert all(a >= b for a, b in zip(normal, normal[1:]))


def test_risk_at_reorder_point(fitted):
    _, settings, _, run = fitted
    scenarios = run.lead_time_demand()
    for uid in ("i1 / B", "i2 / A"):
        rop = scenario_policy(scenarios[uid], settings.service_level)["reorder_point"]
        risk = scenario_stockout_risk(scenarios[uid], rop)
        assert risk <= 1 - settings.service_level + 1e-9
        assert risk > 1 - settings.service_level - 0.02


def test_calibration_reaches_target_on_discrete_demand():
    # Poisson demand, scenarios from a model that is too narrow: the calibrated reorder point covers at least 95%.
    rng = np.random.default_rng(5)
    mean = rng.uniform(1, 30, 3000)
    demand = rng.poisson(mean)
    rows = pd.DataFrame({"demand": demand, "median": mean, "upper": mean + 1.0 * np.sqrt(mean)})
    c = calibration_factor(rows, 0.95)
    assert c > 1
    covered = (demand <= vae_reorder_point(rows["median"], rows["upper"], c)).mean()
    assert 0.95 <= covered < 0.96


def test_calibration_uses_training_weeks_only(fitted):
    demand, settings, _, run = fitted
    last_week = demand.weekly["ds"].max()
    lead_end = run.backtest["origin"] + pd.Timedelta(days=7 * (settings.lead_time_weeks - 1))
    assert lead_end.max() == last_week
    assert run.backtest["origin"].nunique() == settings.calibration_origins
    # The VAE learnt only from lead times that end before the first origin: 4 keys × origins 6..24 of 30 weeks.
    assert run.meta["windows"] == 4 * (WEEKS - settings.calibration_origins - 2 * settings.lead_time_weeks + 2 - settings.history_weeks)


def test_held_out_rows_use_past_weeks(fitted):
    demand, settings, _, run = fitted
    later = synthetic_demand(weeks=WEEKS + 6)
    first_held_out = demand.weekly["ds"].max() + pd.Timedelta(days=7)
    assert later.before(first_held_out).weekly.equals(demand.weekly) # the same weeks, extended
    origins = pd.date_range(first_held_out, periods=5, freq="7D")
    rows = evaluate_policies(run, later, origins)
    assert set(rows["origin"]) == set(origins)
    # The baseline at the first held-out origin equals the one from the training weeks' tail.
    first = rows[rows["origin"] == origins[0]].set_index("unique_id")
    history = later.weekly[later.weekly["ds"] < origins[0]].groupby("unique_id")["y"].apply(lambda y: y.to_numpy()[-settings.history_weeks :])
    expected = normal_reorder_point(*lead_time_normal(history["i2 / A"], settings.lead_time_weeks), settings.service_level)
    assert np.isclose(first.loc["i2 / A", "baseline_rop"], expected)


def test_saved_run_reuse(fitted):
    demand, settings, folder, first = fitted
    again = fit_inventory(demand, settings, folder)
    assert not first.reused
    assert again.reused
    assert again.fingerprint == first.fingerprint
    assert again.policy == first.policy
    pd.testing.assert_frame_equal(reorder_table(again), reorder_table(first), atol=1e-4)
    tables_only = load_inventory(folder, with_vae=False) # what a report reads
    assert tables_only.vae is None
    pd.testing.assert_frame_equal(reorder_table(tables_only), reorder_table(first), atol=1e-4)
    later = synthetic_demand(weeks=WEEKS + 4)
    origins = pd.date_range(demand.weekly["ds"].max() + pd.Timedelta(days=7), periods=2, freq="7D")
    pd.testing.assert_frame_equal(evaluate_policies(again, later, origins), evaluate_policies(first, later, origins), atol=1e-3)

    # A changed week or a changed setting trains again.
    changed = Demand(demand.weekly.assign(y=demand.weekly["y"] + (demand.weekly["ds"] == demand.weekly["ds"].max())), demand.keys, demand.members)
    assert not fit_inventory(changed, settings, folder).reused
    assert not fit_inventory(demand, InventorySettings(**{**QUICK, "service_level": 0.9}), folder).reused


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"item_id": ["i1"], "on_hand": [3]}), "stock on hand is missing column(s) ['store_id']. Fix: pass a table with columns"),
    (pd.DataFrame({"item_id": ["i1", "i2"], "store_id": ["A", "A"], "on_hand": [3, "many"]}),
     "stock on hand, column 'on_hand', row 2: 'many' is not a number of units of at least 0. Fix:"),
    (pd.DataFrame({"item_id": ["i1"], "store_id": ["A"], "on_hand": [-1.5]}), "stock on hand, column 'on_hand', row 1: '-1.5' is not"),
    (pd.DataFrame({"item_id": ["i1"], "store_id": ["A"], "on_hand": [float("inf")]}), "row 1: 'inf' is not a number"),
    (pd.DataFrame({"item_id": ["i1", None], "store_id": ["A", "A"], "on_hand": [1, 2]}),
     "stock on hand, column 'item_id', row 2: the id is missing. Fix: fill it in or drop the row"),
    (pd.DataFrame({"item_id": ["i1", "i1"], "store_id": ["A", "A"], "on_hand": [1, 2]}),
     "stock on hand, row 2: item 'i1' in store 'A' appears twice. Fix: give one row per item and store"),
])
def test_bad_on_hand_error(frame, message):
    with pytest.raises(InventoryError) as error:
        check_on_hand(frame)
    assert message in str(error.value)


def test_bad_on_hand_through_reorder_table(fitted):
    _, _, _, run = fitted
    with pytest.raises(InventoryError, match="column 'on_hand', row 1"):
        reorder_table(run, pd.DataFrame({"item_id": ["i1"], "store_id": ["A"], "on_hand": [None]}))


def test_settings_errors_name_value_and_fix():
    with pytest.raises(InventoryError) as error:
        InventorySettings(lead_time_weeks=0, tolerance=1.5, calibration_origins=1).check()
    message = str(error.value)
    assert "lead_time_weeks is 0; it must be at least 1" in message
    assert "tolerance is 1.5" in message
    assert "calibration_origins is 1" in message
    assert message.endswith("Fix: change them in the plan")


def test_missing_weekly_column_error():
    bad = Demand(pd.DataFrame({"unique_id": ["a"], "ds": [pd.Timestamp("2024-01-01")]}), pd.DataFrame(), pd.DataFrame())
    with pytest.raises(InventoryError, match=r"weekly demand is missing column\(s\) \['y'\]. Fix: build it with build_demand"):
        fit_inventory(bad, InventorySettings(**QUICK))


def test_empty_warehouse_gives_empty_demand():
    db = duckdb.connect(str(Path(tempfile.mkdtemp()) / "w.duckdb"))
    db.execute("CREATE TABLE sales (item_id VARCHAR, store_id VARCHAR, region VARCHAR, category VARCHAR, order_date DATE, quantity DOUBLE)")
    demand = build_demand(db, InventorySettings())
    assert demand.weekly.empty
    assert demand.keys.empty


def test_run_reorder_advice_as_of_forecast_day(demo_run):
    """The demo run writes reorder advice as of the forecast's day: finite for every key, and its stock-out risks are
    the share of the calibrated scenarios above the demo's stock snapshot."""
    import json

    from ecom_insights.metrics import Scope
    from ecom_insights.outlook import demo_stock, scope_inventory
    from ecom_insights.warehouse import connect
    folder = demo_run.run_dir / "models" / "inventory"
    meta = json.loads((folder / "origin.json").read_text())
    assert meta["origin"] == json.loads((demo_run.run_dir / "models" / "forecast" / "origin.json").read_text())["origin"]
    assert meta["stock"] == "demo"
    run, _, rows = scope_inventory(demo_run.run_dir, Scope("store", "S01"))
    assert len(rows) > 0
    assert set(rows["store_id"]) == {"S01"}
    assert np.isfinite(rows[["mean_demand", "reorder_point", "safety_stock"]].to_numpy(float)).all()
    assert set(rows.loc[rows["status"].isin(["no_demand", "returns_exceed_sales"]), "policy"]) <= {"none"}

    with connect(demo_run.run_dir / "warehouse.duckdb") as con:
        stock = demo_stock(con, meta["origin"]).set_index(["item_id", "store_id"])["on_hand"]
    scenarios = run.lead_time_demand()
    checked = 0
    for row in rows[(rows["policy"] == "vae") & (rows["level"] == "item")].head(20).itertuples():
        on_hand = stock.get((row.item_id, row.store_id))
        if on_hand is None: continue
        assert row.on_hand == on_hand
        assert row.stockout_risk == pytest.approx(float((scenarios[row.unique_id] > on_hand).mean()), abs=1e-9)
        assert row.reorder_point == pytest.approx(float(np.quantile(scenarios[row.unique_id], run.settings.service_level)), rel=1e-6)
        checked += 1
    assert checked >= 5


def test_run_report_shows_reorder_advice_and_stockout_fact(demo_run):
    import json
    runs = pd.read_csv(demo_run.run_dir / "runs.csv", dtype=str)
    origin = json.loads((demo_run.run_dir / "models" / "inventory" / "origin.json").read_text())["origin"]
    row = runs[(runs["scope_id"] == "S01") & (runs["end"] == origin)].iloc[0]
    folder = demo_run.run_dir / row["report_dir"]
    notebook = (folder / "report.ipynb").read_text()
    assert "建议再订货点" in notebook
    assert "缺货风险商品" in notebook
    facts = {f["kind"]: f for f in json.loads((folder / "insights.json").read_text())["facts"]}
    rows = pd.read_csv(demo_run.run_dir / "models" / "inventory" / "reorder.csv", dtype={"store_id": str})
    mine = rows[(rows["store_id"] == "S01") & (rows["policy"] != "none") & rows["stockout_risk"].notna()]
    assert facts["stockout"]["values"]["stocked"] == len(mine)
    assert facts["stockout"]["values"]["at_risk"] == int((mine["stockout_risk"] > 0.05).sum())


def test_bad_stock_file_names_file_column_and_row(demo_run, tmp_path):
    from ecom_insights.outlook import prepare_inventory
    from ecom_insights.warehouse import connect
    bad = tmp_path / "stock.csv"
    bad.write_text("item_id,store_id,on_hand\n000001,S01,5\n000002,S01,five\n", encoding="utf-8")
    with connect(demo_run.run_dir / "warehouse.duckdb") as con, pytest.raises(InventoryError) as caught:
        prepare_inventory(con, tmp_path / "run", "2025-12-31", {"stock": bad})
    message = str(caught.value)
    assert str(bad) in message
    assert "column 'on_hand', row 2" in message
    assert "'five'" in message
    assert "Fix:" in message
    assert not (tmp_path / "run").exists()  # nothing was trained or written


def test_stock_naming_no_sold_item_is_rejected(demo_run, tmp_path):
    from ecom_insights.outlook import check_stock
    from ecom_insights.warehouse import connect
    stock = tmp_path / "stock.csv"
    stock.write_text("item_id,store_id,on_hand\n999999,S01,3\n1918,S01,3\n", encoding="utf-8")  # unknown, and leading zeros lost
    with connect(demo_run.run_dir / "warehouse.duckdb") as con, pytest.raises(InventoryError) as caught:
        check_stock(con, stock)
    message = str(caught.value)
    assert str(stock) in message
    assert "none of its 2 rows names an item sold in its store" in message
    assert "leading zeros" in message
