"""Facts checked against figures computed separately with pandas from the raw public data: the change against the
previous period, the contributions that add up to it, and the anomaly days; and every number of every sentence
traced back to a fact."""
from __future__ import annotations

import glob

import numpy as np
import pandas as pd
import pytest

from ecom_insights.facts import (
    ANOMALY_WIDTH,
    ANOMALY_WINDOW,
    MAD_TO_SD,
    TEMPLATES,
    anomaly_facts,
    check_numbers,
    compute_facts,
    contributions,
    headline_fact,
    render,
)
from ecom_insights.metrics import Scope
from ecom_insights.report import Report, forecast_facts, inventory_facts, report_forecast
from ecom_insights.warehouse import connect

from conftest import DATA

RETAIL_NON_PRODUCT = {"POST", "DOT", "C2", "M", "S", "D", "B", "CRUK", "AMAZONFEE", "BANK CHARGES"}
UK_JUNE = (Scope("region", "United Kingdom"), "2011-06-01", "2011-06-30")


@pytest.fixture(scope="module")
def retail_daily():
    """Online Retail UK product lines by day and item, computed from the raw files."""
    files = sorted(glob.glob(str(DATA / "online-retail" / "by-day" / "*.csv")))
    raw = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""]) for f in files]).drop_duplicates()
    code = raw["StockCode"].str.upper()
    lines = raw[~code.isin(RETAIL_NON_PRODUCT) & ~code.str.startswith("GIFT_") & (raw["Country"] == "United Kingdom")].copy()
    lines["UnitPrice"] = lines["UnitPrice"].astype(float)
    lines = lines[lines["UnitPrice"] > 0]
    lines["revenue"] = lines["Quantity"].astype(float) * lines["UnitPrice"]
    lines["day"] = pd.to_datetime(lines["InvoiceDate"]).dt.normalize()
    return lines


def test_pop_change_equals_independent(online_retail_run, retail_daily):
    with connect(online_retail_run.run_dir / "warehouse.duckdb") as con:
        facts = {f.id: f for f in compute_facts(con, *UK_JUNE)}
    june = retail_daily[retail_daily["day"].between("2011-06-01", "2011-06-30")]["revenue"].sum()
    may = retail_daily[retail_daily["day"].between("2011-05-02", "2011-05-31")]["revenue"].sum()
    fact = facts["pop_change:revenue"]
    assert fact.values["current"] == pytest.approx(june, abs=0.01)
    assert fact.values["previous"] == pytest.approx(may, abs=0.01)
    assert fact.values["change"] == pytest.approx((june - may) / may, abs=1e-4)


def test_contributions_add_up_and_match(online_retail_run, retail_daily):
    with connect(online_retail_run.run_dir / "warehouse.duckdb") as con:
        parts = contributions(con, *UK_JUNE, by="item")
    june = retail_daily[retail_daily["day"].between("2011-06-01", "2011-06-30")].groupby("StockCode")["revenue"].sum()
    may = retail_daily[retail_daily["day"].between("2011-05-02", "2011-05-31")].groupby("StockCode")["revenue"].sum()
    expected = june.sub(may, fill_value=0.0)
    assert parts["change"].sum() == pytest.approx(expected.sum(), abs=0.05)
    assert parts["share_of_change"].sum() == pytest.approx(1.0, abs=1e-9)
    for row in parts.head(5).itertuples():
        assert row.change == pytest.approx(expected[row.key], abs=0.01), row.key


def independent_anomalies(by_day: pd.Series, start: str, end: str) -> set[str]:
    """Days of [start, end] outside median ± 3 × 1.4826 × MAD of the 28 days before (10% of the median at least)."""
    days = pd.date_range(pd.Timestamp(start) - pd.Timedelta(days=ANOMALY_WINDOW), end)
    daily = by_day.reindex(days, fill_value=0.0)
    found = set()
    for day in pd.date_range(start, end):
        history = daily[day - pd.Timedelta(days=ANOMALY_WINDOW): day - pd.Timedelta(days=1)].to_numpy()
        median = np.median(history)
        spread = max(ANOMALY_WIDTH * MAD_TO_SD * np.median(np.abs(history - median)), 0.1 * abs(median))
        if not median - spread <= daily[day] <= median + spread: found.add(str(day.date()))
    return found


def test_anomaly_days_match_independent(online_retail_run, retail_daily):
    with connect(online_retail_run.run_dir / "warehouse.duckdb") as con:
        found = {f.values["day"] for f in anomaly_facts(con, *UK_JUNE)}
    assert found == independent_anomalies(retail_daily.groupby("day")["revenue"].sum(), "2011-06-01", "2011-06-30")
    assert found  # June 2011 has days outside the band (the shop does not trade on Saturdays)


@pytest.fixture(scope="module")
def olist_lines():
    """Olist order items of orders not cancelled, with purchase day and English category, from the raw files."""
    folder = DATA / "olist-sample"
    orders = pd.read_csv(folder / "olist_orders_dataset.csv", dtype=str)
    orders = orders[~orders["order_status"].isin({"canceled", "unavailable"})]
    orders["day"] = pd.to_datetime(orders["order_purchase_timestamp"]).dt.normalize()
    items = pd.read_csv(folder / "olist_order_items_dataset.csv", dtype={"order_id": str, "seller_id": str, "product_id": str})
    products = pd.read_csv(folder / "olist_products_dataset.csv", dtype=str)
    english = pd.read_csv(folder / "product_category_name_translation.csv", dtype=str).set_index("product_category_name")
    products["category"] = products["product_category_name"].map(english["product_category_name_english"]).fillna(
        products["product_category_name"]).fillna("")
    lines = items.merge(orders[["order_id", "day"]], on="order_id").merge(products[["product_id", "category"]], on="product_id", how="left")
    lines["category"] = lines["category"].fillna("")
    return lines


def test_olist_store_facts_match_independent(olist_run, olist_lines):
    seller = olist_lines[olist_lines["day"].between("2018-04-01", "2018-06-30")].groupby("seller_id")["price"].sum().idxmax()
    scope = (Scope("store", seller), "2018-04-01", "2018-06-30")
    with connect(olist_run.run_dir / "warehouse.duckdb") as con:
        facts = {f.id: f for f in compute_facts(con, *scope)}
        parts = contributions(con, *scope)
        anomalies = {f.values["day"] for f in anomaly_facts(con, *scope)}
    mine = olist_lines[olist_lines["seller_id"] == seller]
    now = mine[mine["day"].between("2018-04-01", "2018-06-30")]
    before = mine[mine["day"].between("2017-12-31", "2018-03-31")]  # the 91 days before
    fact = facts["pop_change:revenue"]
    assert fact.values["current"] == pytest.approx(now["price"].sum(), abs=0.01)
    assert fact.values["previous"] == pytest.approx(before["price"].sum(), abs=0.01)
    expected = now.groupby("category")["price"].sum().sub(before.groupby("category")["price"].sum(), fill_value=0.0)
    assert parts["change"].sum() == pytest.approx(fact.values["current"] - fact.values["previous"], abs=0.01)
    for row in parts.head(3).itertuples():
        assert row.change == pytest.approx(expected[row.key], abs=0.01), row.key
    assert anomalies == independent_anomalies(mine.groupby("day")["price"].sum(), "2018-04-01", "2018-06-30")


@pytest.mark.parametrize("plan_run", ["demo_run", "online_retail_run", "olist_run"])
def test_every_insights_json_sentence_is_true(plan_run, request):
    import json

    from ecom_insights.facts import Fact
    run = request.getfixturevalue(plan_run)
    runs = pd.read_csv(run.run_dir / "runs.csv", dtype=str, keep_default_na=False)
    checked = 0
    for report_dir in runs["report_dir"]:
        insights = json.loads((run.run_dir / report_dir / "insights.json").read_text())
        facts = {f["id"]: Fact(**f) for f in insights["facts"]}
        langs = {s["lang"] for s in insights["sentences"]}
        assert langs == {"zh-CN", "en"}, report_dir
        for sentence in insights["sentences"]:
            cited = [facts[i] for i in sentence["fact_ids"]]
            assert check_numbers(sentence["text"], cited, sentence["lang"]) == [], (report_dir, sentence["text"])
            checked += 1
    assert checked >= 2 * len(runs)


def test_every_fact_kind_renders_in_both_languages(demo_run):
    with connect(demo_run.run_dir / "warehouse.duckdb") as con:
        scope = Scope("store", "S01")
        facts = [headline_fact(con, scope, "2025-12-01", "2025-12-28")] + compute_facts(con, scope, "2025-12-01", "2025-12-28")
        facts += anomaly_facts(con, scope, "2025-01-01", "2025-12-31")  # a year holds days outside the band
    report = Report.open(str(demo_run.run_dir / "warehouse.duckdb"), "store", "S01", "2025-12-01", "2025-12-31")
    facts += forecast_facts(report_forecast(report)) + inventory_facts(report)  # the run's forecast and reorder advice
    kinds = {}
    for f in facts: kinds.setdefault(f.kind, f)
    assert set(kinds) == set(TEMPLATES)  # every kind a template exists for is rendered below
    for fact in kinds.values():
        for lang in ("zh-CN", "en"):
            text = render(fact, lang, "CNY")
            assert check_numbers(text, [fact], lang) == [], text
            assert any("\u4e00" <= ch <= "\u9fff" for ch in text) or lang == "en"
