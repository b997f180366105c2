"""Each failure case from real bug reports, read from the shared cases folder, checked against its expected values,
plus a variant of the same kind of fault (another encoding, currency sign or date format) so the fix is general."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from ecom_insights.core import DataError
from ecom_insights.metrics import Scope, breakdown, daily, daily_by_store, kpis
from ecom_insights.plan import parse_plan
from ecom_insights.warehouse import build_warehouse, connect

from conftest import CASES, require


def expected(case: str) -> dict:
    return json.loads(require(CASES / case / "expected.json").read_text(encoding="utf-8"))


def case_file(case: str, name: str) -> str:
    return str(require(CASES / case / name))


def make_plan(tables: dict, **top) -> str:
    """YAML text of a plan reading `tables` with the generic tables adapter."""
    plan = {"sources": {"adapter": "tables", "tables": tables}, "date_ranges": [], **top}
    return yaml.safe_dump(plan, allow_unicode=True)


def warehouse(tmp_path: Path, tables: dict, **top) -> duckdb.DuckDBPyConnection:
    plan = parse_plan(make_plan(tables, **top))
    return connect(build_warehouse(plan, tmp_path / "run"))


def total(con, sql: str, params=()) -> float:
    return round(float(con.execute(sql, list(params)).fetchone()[0] or 0), 2)


ALL_TIME = ("2000-01-01", "2099-12-31")

# F01: GBK export with Chinese headers

F01_COLUMNS = {"订单号": "order_id", "下单时间": "ordered_at", "店铺": "store_id", "地区": "region", "商品名称": "item_name",
               "数量": "quantity", "单价": "unit_price", "实付金额": "amount"}


def test_f01_gbk_chinese_headers(tmp_path):
    exp = expected("F01")
    con = warehouse(tmp_path, {"sales": {"path": case_file("F01", "orders_gbk.csv"), "columns": F01_COLUMNS}})
    assert total(con, "SELECT COUNT(*) FROM order_lines") == exp["row_count"]
    assert total(con, "SELECT SUM(amount) FROM sales") == float(exp["total_paid_amount"])
    for region, amount in exp["paid_by_region"].items():
        assert kpis(con, Scope("region", region), *ALL_TIME)["revenue"] == float(amount)
    assert total(con, "SELECT COUNT(DISTINCT order_id) FROM order_lines WHERE item_id = '蓝牙耳机'") == exp["orders_of_item_蓝牙耳机"]
    assert con.execute("SELECT name FROM stores WHERE store_id = ?", [exp["store_name_roundtrip"]]).fetchone()[0] == exp["store_name_roundtrip"]


@pytest.mark.parametrize("encoding", ["gb18030", "big5", "cp1252"])
def test_f01_other_encodings_declared(tmp_path, encoding):
    text = "order_id,ordered_at,store_id,amount\nA1,2024-03-01,店一,10.50\n" if encoding != "cp1252" else \
           "order_id,ordered_at,store_id,amount\nA1,2024-03-01,Café,10.50\n"
    if encoding == "big5": text = text.replace("店一", "門市")
    path = tmp_path / "orders.csv"
    path.write_bytes(text.encode(encoding))
    con = warehouse(tmp_path, {"sales": {"path": str(path), "encoding": encoding}})
    store = con.execute("SELECT store_id FROM orders").fetchone()[0]
    assert store == text.splitlines()[1].split(",")[2]


def test_f01_garbled_headers_point_at_encoding(tmp_path):
    with pytest.raises(DataError, match="the headers look garbled.*set the source's `encoding`"):
        warehouse(tmp_path, {"sales": {"path": case_file("F01", "orders_gbk.csv"), "encoding": "latin-1", "columns": F01_COLUMNS}})


def test_f01_wrong_declared_encoding_is_rejected(tmp_path):
    with pytest.raises(DataError, match="cannot be decoded as the declared encoding 'utf-8'"):
        warehouse(tmp_path, {"sales": {"path": case_file("F01", "orders_gbk.csv"), "encoding": "utf-8", "columns": F01_COLUMNS}})


# F03: invisible characters in headers

def test_f03_header_junk_is_removed(tmp_path):
    exp = expected("F03")
    con = warehouse(tmp_path, {"sales": {"path": case_file("F03", "orders_bom.csv"),
                                         "columns": {"order_date": "ordered_at"}}})
    assert total(con, "SELECT COUNT(*) FROM order_lines") == exp["row_count"]
    assert total(con, "SELECT SUM(amount) FROM sales") == float(exp["total_amount"])
    for store, amount in exp["amount_by_store"].items():
        assert kpis(con, Scope("store", store), *ALL_TIME)["revenue"] == float(amount)
    assert con.execute("SELECT MIN(order_id) FROM orders").fetchone()[0] == exp["first_order_id"]


def test_f03_read_file_normalises_headers():
    from ecom_insights.ingest import read_file
    frame = read_file(Path(case_file("F03", "orders_bom.csv")), {})
    assert list(frame.columns) == expected("F03")["normalised_columns"]


# F04: money as text

def test_f04_money_text(tmp_path):
    exp = expected("F04")
    con = warehouse(tmp_path, {"sales": {"path": case_file("F04", "orders_currency.csv"),
                                         "columns": {"amount_raw": "amount"}, "constants": {"ordered_at": "2024-03-01"}}})
    amounts = dict(con.execute("SELECT order_id, amount::DOUBLE FROM order_lines").fetchall())
    assert amounts == {k: float(v) for k, v in exp["parsed_amounts"].items()}
    k = kpis(con, Scope("all"), *ALL_TIME)
    assert k["revenue"] == float(exp["net_total"])
    assert k["gmv"] == float(exp["gross_positive"])
    assert -k["refunds"] == float(exp["refunds"])
    for store, amount in exp["net_by_store"].items():
        assert kpis(con, Scope("store", store), *ALL_TIME)["revenue"] == float(amount)


def test_f04_other_currency_signs_and_unparseable_listed(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text('order_id,amount\nE1,"R$ 1.234,50"\nE2,"(€12,00)"\nE3,12 EUR?\n', encoding="utf-8")
    con = warehouse(tmp_path, {"sales": {"path": str(path), "decimal": ",", "constants": {"ordered_at": "2024-03-01"}}})
    assert dict(con.execute("SELECT order_id, amount::DOUBLE FROM order_lines").fetchall()) == {"E1": 1234.5, "E2": -12.0}
    rejected = con.execute("SELECT row, \"column\", value, reason FROM ledger_rows WHERE outcome = 'removed'").fetchall()
    assert rejected == [(3, "amount", "12 EUR?", "unparseable amount in amount")]


# F05: day-first dates

F05_TABLE = {"columns": {"order_date": "ordered_at"}}


def _march_figures(con):
    k = kpis(con, Scope("store", "DE01"), "2024-03-01", "2024-03-31")
    series = daily(con, Scope("store", "DE01"), "2024-03-01", "2024-03-31")
    outside = total(con, "SELECT COUNT(*) FROM orders WHERE order_date NOT BETWEEN '2024-03-01' AND '2024-03-31'")
    return k, series, outside


def test_f05_dayfirst_with_format(tmp_path):
    exp = expected("F05")["with_params.yaml"]
    fmt = yaml.safe_load(Path(case_file("F05", "params.yaml")).read_text())["date_format"]
    con = warehouse(tmp_path, {"sales": {"path": case_file("F05", "orders_dayfirst.csv"), "date_format": fmt, **F05_TABLE}})
    k, series, outside = _march_figures(con)
    assert k["orders"] == exp["orders_in_march_2024"]
    assert k["revenue"] == exp["revenue_march_2024"]
    assert outside == exp["orders_outside_march"]
    assert len(series) == exp["daily_series_rows"]
    assert int((series["revenue"] > 0).sum()) == exp["days_with_orders"]
    assert str(series.loc[series["revenue"] > 0, "day"].min())[:10] == exp["first_order_date"]
    assert str(series.loc[series["revenue"] > 0, "day"].max())[:10] == exp["last_order_date"]


def test_f05_without_format_reads_whole_column_dayfirst(tmp_path, caplog):
    exp = expected("F05")["with_params.yaml"]
    with caplog.at_level("INFO"):
        con = warehouse(tmp_path, {"sales": {"path": case_file("F05", "orders_dayfirst.csv"), **F05_TABLE}})
    k, _, outside = _march_figures(con)
    assert k["orders"] == exp["orders_in_march_2024"]
    assert outside == 0
    assert "read day-first" in caplog.text
    assert "13/03/2024" in caplog.text


def test_f05_ambiguous_column_is_rejected(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,store_id,order_date,amount\nE01,DE01,01/03/2024,10\nE02,DE01,02/03/2024,20\n", encoding="utf-8")
    with pytest.raises(DataError, match="fit both day-first and month-first"):
        warehouse(tmp_path, {"sales": {"path": str(path), **F05_TABLE}})
    con = warehouse(tmp_path / "b", {"sales": {"path": str(path), "dayfirst": True, **F05_TABLE}})
    assert total(con, "SELECT COUNT(*) FROM orders WHERE month(order_date) = 3") == 2


def test_f06_mixed_offsets_in_one_column(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,ordered_at,amount\nZ1,2024-03-31T17:30:00Z,10\nZ2,2024-03-31 17:30+08:00,20\nZ3,2024-03-31 09:00,30\n")
    con = warehouse(tmp_path, {"sales": {"path": str(path)}})
    days = dict(con.execute("SELECT order_id, order_date::VARCHAR FROM orders").fetchall())
    assert days == {"Z1": "2024-04-01", "Z2": "2024-03-31", "Z3": "2024-03-31"}  # Z1 is 01:30 on 1 April in Shanghai


def test_f05_month_first_us_dates(tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text("order_id,order_date,amount\nU1,03/13/2024,10\nU2,03/01/2024,20\n", encoding="utf-8")
    con = warehouse(tmp_path, {"sales": {"path": str(path), **F05_TABLE}})
    assert [str(d) for (d,) in con.execute("SELECT order_date FROM orders ORDER BY order_id").fetchall()] == ["2024-03-13", "2024-03-01"]


# F06: mixed date formats and impossible dates

def test_f06_mixed_dates_and_rejected_rows(tmp_path):
    exp = expected("F06")
    con = warehouse(tmp_path, {"sales": {"path": case_file("F06", "orders_mixed_dates.csv"),
                                         "columns": {"订单号": "order_id", "下单日期": "ordered_at", "金额": "amount"}}})
    stamps = dict(con.execute("SELECT order_id, strftime(timezone('Asia/Shanghai', ordered_at), '%Y-%m-%d %H:%M:%S') FROM orders").fetchall())
    for order_id, text in exp["parsed"].items():
        assert stamps[order_id].startswith(text)
    rejected = con.execute("""SELECT order_id, reason, value, amount FROM ledger_rows WHERE outcome = 'removed'
                              ORDER BY order_id""").fetchall()
    assert [r[0] for r in rejected] == list(exp["rejected"])
    for order_id, reason, value, _ in rejected:
        # The reason names the fault; the value at fault is listed beside it, so the summary groups by fault.
        assert exp["rejected"][order_id] == " ".join(filter(None, [reason, (value or "")[:10]]))
    assert sum(r[3] for r in rejected) == exp["rejected_revenue"]
    assert kpis(con, Scope("all"), *ALL_TIME)["revenue"] == exp["valid_revenue"]


# F07: Excel serial numbers

def test_f07_excel_serial_dates(tmp_path):
    exp = expected("F07")
    con = warehouse(tmp_path, {"sales": {"path": case_file("F07", "orders_excel_serial.csv"),
                                         "columns": {"order_date": "ordered_at"}}})
    stamps = dict(con.execute("SELECT order_id, strftime(timezone('Asia/Shanghai', ordered_at), '%Y-%m-%d %H:%M') FROM orders").fetchall())
    assert stamps == exp["converted"]
    for month, key in (("2024-03", "revenue_2024_03"), ("2024-02", "revenue_2024_02"), ("2024-01", "revenue_2024_01")):
        start = pd.Timestamp(month + "-01")
        assert kpis(con, Scope("all"), start.date(), (start + pd.offsets.MonthEnd(0)).date())["revenue"] == exp[key]


# F11: days without sales

def test_f11_daily_series_filled_with_zero_days(tmp_path):
    exp = expected("F11")
    params = yaml.safe_load(Path(case_file("F11", "params.yaml")).read_text())
    con = warehouse(tmp_path, {"sales": {"path": case_file("F11", "orders.csv"), "columns": {"order_date": "ordered_at"}},
                               "stores": {"path": case_file("F11", "stores.csv"), "columns": {"store_name": "name"}}})
    grid = daily_by_store(con, params["start_date"], params["end_date"], params["stores"])
    assert len(grid) == exp["rows_total"]
    for store, values in exp["daily"].items():
        assert grid.loc[grid["store_id"] == store, "revenue"].tolist() == values
        assert grid.loc[grid["store_id"] == store, "revenue"].sum() == exp["totals"][store]
    a = daily(con, Scope("store", "A"), params["start_date"], params["end_date"]).set_index("day")["revenue"]
    assert a.rolling(7).mean().loc[pd.Timestamp("2024-03-07")] == exp["A_7day_mean_on_2024-03-07"]
    all_stores = daily_by_store(con, params["start_date"], params["end_date"])
    assert set(all_stores["store_id"]) == {"A", "B", "C"}  # C has no sales and still has its 10 rows


# F12: returns, cancellations and non-sales rows

F12_COLUMNS = {"invoice_no": "order_id", "stock_code": "item_id", "description": "item_name", "quantity": "quantity",
               "invoice_date": "ordered_at", "unit_price": "unit_price", "customer_id": "user_id", "country": "region"}


def test_f12_returns_and_adjustments(tmp_path):
    exp = expected("F12")
    con = warehouse(tmp_path, {"sales": {"path": case_file("F12", "transactions.csv"), "columns": F12_COLUMNS,
                                         "return_id_prefix": "C"}})
    k = kpis(con, Scope("all"), *ALL_TIME)
    assert k["gmv"] == float(exp["gross_sales"])
    assert -k["refunds"] == float(exp["returns"])
    assert k["revenue"] == float(exp["net_sales"])
    assert k["units"] == exp["units_sold_net"]
    assert k["return_rate"] == float(exp["return_rate_by_value"])
    removed = dict(con.execute("SELECT order_id, reason FROM ledger_rows WHERE outcome = 'removed'").fetchall())
    assert set(removed) == set(exp["excluded_non_sales_rows"])
    net = dict(con.execute("SELECT user_id, SUM(amount)::DOUBLE FROM sales GROUP BY user_id").fetchall())
    assert net == {c: float(v) for c, v in exp["net_by_customer"].items()}
    assert k["orders"] == 4  # 536500, 536501, 536502, 536505; the C invoices are return documents


# F13: missing customer ids and regions

def test_f13_guests_and_unknown_region(tmp_path):
    exp = expected("F13")
    con = warehouse(tmp_path, {"sales": {"path": case_file("F13", "orders.csv"), "columns": {"customer_id": "user_id"},
                                         "constants": {"ordered_at": "2024-03-01"}}})
    k = kpis(con, Scope("all"), *ALL_TIME)
    assert k["revenue"] == exp["total_revenue"]
    by_region = breakdown(con, "region", Scope("all"), *ALL_TIME)
    regions = {("未知/unknown" if pd.isna(r) else r): v for r, v in zip(by_region["key"], by_region["revenue"])}
    assert regions == exp["revenue_by_region"]
    assert sum(regions.values()) == exp["total_revenue"]
    assert k["customers"] == exp["identified_customers"]
    assert k["guest_orders"] == exp["guest_orders"]
    assert sorted(r[0] for r in con.execute("SELECT DISTINCT user_id FROM orders WHERE user_id IS NOT NULL").fetchall()) == exp["customer_id_labels"]
    assert total(con, "SELECT SUM(amount) FROM sales WHERE user_id IS NULL") == exp["guest_revenue"]
    assert k["repeat_customers"] == exp["repeat_customers"]
    assert k["repeat_rate"] == float(exp["repeat_rate_identified"])
    per_customer = dict(con.execute("SELECT user_id, SUM(amount)::DOUBLE FROM sales WHERE user_id IS NOT NULL GROUP BY 1").fetchall())
    assert per_customer == exp["revenue_per_identified_customer"]
    notes = dict(con.execute("SELECT reason, SUM(rows) FROM ledger WHERE outcome = 'kept' GROUP BY 1").fetchall())
    assert notes["guest order (no customer id)"] == 3


# F14: order-level amounts and a one-to-many join

def test_f14_order_amounts_not_multiplied(tmp_path):
    exp = expected("F14")
    con = warehouse(tmp_path, {
        "orders": {"path": case_file("F14", "orders.csv"), "columns": {"order_date": "ordered_at", "shipping_fee": "shipping",
                                                                        "coupon_discount": "discount"}},
        "order_lines": {"path": case_file("F14", "order_items.csv"), "columns": {"sku": "item_id", "qty": "quantity"}}})
    k = kpis(con, Scope("all"), *ALL_TIME)
    assert k["orders"] == exp["orders"]
    assert k["units"] == exp["units"]
    assert total(con, "SELECT COUNT(*) FROM order_lines") == exp["order_lines"]
    assert k["revenue"] == float(exp["item_revenue"])
    assert k["shipping"] == float(exp["shipping"])
    assert k["discounts"] == float(exp["coupons"])
    assert k["order_value"] == float(exp["net_revenue"])
    assert round(k["order_value"] / k["orders"], 2) == float(exp["aov"])
    for store, amount in exp["net_by_store"].items():
        assert kpis(con, Scope("store", store), *ALL_TIME)["order_value"] == float(amount)
