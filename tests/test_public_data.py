"""The Olist and Online Retail plans, run end to end on the public data, against figures computed independently
with pandas from the raw files, using the definitions in the README."""
from __future__ import annotations

import glob
import json

import pandas as pd
import pytest

from conftest import DATA

OLIST_EXCLUDED = {"canceled", "unavailable"}
RETAIL_NON_PRODUCT = {"POST", "DOT", "C2", "M", "S", "D", "B", "CRUK", "AMAZONFEE", "BANK CHARGES"}


def metrics_of(run) -> list[dict]:
    runs = pd.read_csv(run.run_dir / "runs.csv", dtype=str, keep_default_na=False)
    assert set(runs["status"]) == {"ok"}, runs.loc[runs["status"] != "ok", ["scope_id", "error"]].to_string()
    return [json.loads((run.run_dir / d / "metrics.json").read_text()) for d in runs["report_dir"]]


@pytest.fixture(scope="module")
def olist_lines():
    """Olist order items with their order's status, purchase day and customer state."""
    folder = DATA / "olist-sample"
    orders = pd.read_csv(folder / "olist_orders_dataset.csv", dtype=str)
    items = pd.read_csv(folder / "olist_order_items_dataset.csv", dtype={"order_id": str, "seller_id": str})
    customers = pd.read_csv(folder / "olist_customers_dataset.csv", dtype=str)
    orders = orders.merge(customers[["customer_id", "customer_state"]], on="customer_id", how="left")
    orders = orders[~orders["order_status"].isin(OLIST_EXCLUDED)]
    orders["day"] = pd.to_datetime(orders["order_purchase_timestamp"]).dt.normalize()
    return items.merge(orders[["order_id", "day", "customer_state"]], on="order_id")


def olist_expected(lines: pd.DataFrame, m: dict) -> tuple[float, int]:
    column = "seller_id" if m["scope_kind"] == "store" else "customer_state"
    sel = lines[(lines[column] == m["scope_id"]) & lines["day"].between(m["start"], m["end"])]
    return round(sel["price"].sum(), 2), sel["order_id"].nunique()


def test_olist_reports_match_independent_figures(olist_run, olist_lines):
    records = metrics_of(olist_run)
    stores = {m["scope_id"] for m in records if m["scope_kind"] == "store"}
    regions = {m["scope_id"] for m in records if m["scope_kind"] == "region"}
    assert len(stores) >= 10
    assert len(regions) >= 5
    assert len({(m["start"], m["end"]) for m in records}) >= 2
    for m in records:
        revenue, orders = olist_expected(olist_lines, m)
        assert m["currency"] == "BRL"
        assert m["revenue"] == pytest.approx(revenue, abs=0.005), (m["scope_id"], m["start"])
        assert m["orders"] == orders, (m["scope_id"], m["start"])
        assert m["aov"] == (pytest.approx(round(revenue / orders, 2), abs=0.005) if orders else None)


def test_olist_top_stores_are_the_largest(olist_run, olist_lines):
    ranked = olist_lines.groupby("seller_id")["price"].sum().sort_values(ascending=False)
    stores = {m["scope_id"] for m in metrics_of(olist_run) if m["scope_kind"] == "store"}
    assert stores == set(ranked.index[:10])


@pytest.fixture(scope="module")
def retail_lines():
    """Online Retail product lines: duplicates removed, non-product codes and zero-price adjustments left out."""
    files = sorted(glob.glob(str(DATA / "online-retail" / "by-day" / "*.csv")))
    raw = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False, na_values=[""]) for f in files], ignore_index=True)
    lines = raw.drop_duplicates().copy()
    code = lines["StockCode"].str.upper()
    lines = lines[~code.isin(RETAIL_NON_PRODUCT) & ~code.str.startswith("GIFT_")]
    lines["Quantity"] = lines["Quantity"].astype(float)
    lines["UnitPrice"] = lines["UnitPrice"].astype(float)
    # A zero or negative price marks a stock or accounting adjustment, not a sale.
    lines = lines[lines["UnitPrice"] > 0].copy()
    lines["revenue"] = lines["Quantity"] * lines["UnitPrice"]
    lines["day"] = pd.to_datetime(lines["InvoiceDate"]).dt.normalize()
    return lines


def test_online_retail_reports_match_independent_figures(online_retail_run, retail_lines):
    records = metrics_of(online_retail_run)
    ranked = retail_lines.groupby("Country")["revenue"].sum().sort_values(ascending=False)
    assert {m["scope_id"] for m in records} == set(ranked.index[:5])
    assert len({(m["start"], m["end"]) for m in records}) >= 2
    for m in records:
        sel = retail_lines[(retail_lines["Country"] == m["scope_id"]) & retail_lines["day"].between(m["start"], m["end"])]
        orders = sel.loc[~sel["InvoiceNo"].str.startswith("C"), "InvoiceNo"].nunique()
        customers = sel.loc[~sel["InvoiceNo"].str.startswith("C"), "CustomerID"].dropna().str.replace(".0", "", regex=False).nunique()
        assert m["currency"] == "GBP"
        assert m["revenue"] == pytest.approx(round(sel["revenue"].sum(), 2), abs=0.005), (m["scope_id"], m["start"])
        assert m["orders"] == orders, (m["scope_id"], m["start"])
        assert m["units"] == sel["Quantity"].sum()
        assert m["customers"] == customers
        assert m["aov"] == pytest.approx(round(m["revenue"] / orders, 2), abs=0.005)


def test_online_retail_ledger_adds_up_to_input_rows(online_retail_run):
    import duckdb
    files = sorted(glob.glob(str(DATA / "online-retail" / "by-day" / "*.csv")))
    input_rows = sum(len(pd.read_csv(f, dtype=str)) for f in files)
    with duckdb.connect(str(online_retail_run.run_dir / "warehouse.duckdb"), read_only=True) as con:
        counted = con.execute("SELECT SUM(rows) FROM ledger").fetchone()[0]
        reasons = dict(con.execute("SELECT reason, SUM(rows) FROM ledger GROUP BY reason").fetchall())
    assert counted == input_rows
    raw = pd.concat([pd.read_csv(f, dtype=str) for f in files])
    assert reasons["exact duplicate row"] == raw.duplicated().sum()
