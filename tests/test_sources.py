"""Sources other than CSV, and the built-in adapters for the behaviour logs and Olist's extra tables."""
from __future__ import annotations

import pandas as pd
import yaml

from ecom_insights.plan import parse_plan
from ecom_insights.warehouse import build_warehouse, connect, load_sources

from conftest import DATA, require

ROWS = pd.DataFrame({"order_id": ["0001", "0002"], "store_id": ["007", "007"],
                     "ordered_at": ["2024-03-01 10:00", "2024-03-02 11:00"], "amount": ["¥1,000.50", "20"]})


def plan_for(tables: dict, **top):
    return parse_plan(yaml.safe_dump({"sources": {"adapter": "tables", "tables": tables}, "date_ranges": [], **top}))


def test_excel_and_parquet_sources(tmp_path):
    ROWS.to_excel(tmp_path / "orders.xlsx", sheet_name="订单", index=False)
    ROWS.to_parquet(tmp_path / "orders.parquet")
    for name, spec in (("excel", {"path": str(tmp_path / "orders.xlsx"), "sheet": "订单"}),
                       ("parquet", {"path": str(tmp_path / "orders.parquet")})):
        with connect(build_warehouse(plan_for({"sales": spec}), tmp_path / name)) as con:
            rows = con.execute("SELECT order_id, store_id, amount::DOUBLE FROM sales ORDER BY order_id").fetchall()
        assert rows == [("0001", "007", 1000.5), ("0002", "007", 20.0)], name


def test_csv_glob_of_many_files(tmp_path):
    for i, part in enumerate((ROWS.iloc[:1], ROWS.iloc[1:])):
        part.to_csv(tmp_path / f"orders_{i}.csv", index=False)
    tables = load_sources(plan_for({"sales": {"path": str(tmp_path / "orders_*.csv")}}))
    assert sorted(tables.orders["order_id"]) == ["0001", "0002"]
    assert set(tables.ledger.summary()["source"]) == {"orders_0.csv", "orders_1.csv"}


def test_taobao_adapter_events_and_window():
    tables = load_sources(parse_plan(f"sources: {{adapter: taobao, path: {require(DATA / 'taobao-userbehavior-subset')}}}\ndate_ranges: []\n"))
    raw = pd.read_csv(DATA / "taobao-userbehavior-subset" / "UserBehavior.csv", header=None)
    summary = tables.ledger.summary()
    assert summary["rows"].sum() == len(raw)
    outside = summary.loc[summary["reason"].str.startswith("event outside"), "rows"].sum()
    assert outside == 1  # one event lies outside 2017-11-25..2017-12-03 (Beijing time)
    assert set(tables.events["action"]) == {"view", "cart", "fav", "buy"}
    assert str(tables.events["at"].dt.tz) == "Asia/Shanghai"
    assert tables.events["event_date"].min().date().isoformat() == "2017-11-25"


def test_jd_adapter_duplicates_and_gbk_users():
    folder = require(DATA / "jd-jdata-2017-head30k")
    tables = load_sources(parse_plan(f"sources: {{adapter: jd, path: {folder}}}\ndate_ranges: []\n"))
    summary = tables.ledger.summary()
    events = summary[summary["table"] == "events"]
    duplicates = events.loc[events["reason"] == "exact duplicate row", "rows"].sum()
    raw = pd.concat([pd.read_csv(p, dtype=str) for p in sorted(folder.glob("JData_Action_*.csv"))])
    assert duplicates == raw.duplicated().sum()
    assert 0.25 <= duplicates / len(raw) <= 0.29
    assert events["rows"].sum() == len(raw)
    assert "56岁以上" in set(tables.users["age_band"])  # the GBK user file decoded
    assert {"view", "cart", "buy", "click"} <= set(tables.events["action"])
    assert not tables.events["user_id"].str.endswith(".0").any()


def test_olist_keeps_reviews_and_marketplace_sellers(olist_run):
    with connect(olist_run.run_dir / "warehouse.duckdb") as con:
        reviews = con.execute("SELECT COUNT(*) FROM reviews").fetchone()[0]
        split = con.execute("""SELECT COUNT(*) FROM (SELECT order_id FROM order_lines GROUP BY order_id
                               HAVING COUNT(DISTINCT store_id) > 1)""").fetchone()[0]
    assert reviews == len(pd.read_csv(DATA / "olist-sample" / "olist_order_reviews_dataset.csv"))
    assert split > 0  # orders with several sellers keep each line's seller as its store
