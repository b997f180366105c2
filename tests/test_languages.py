"""The same data in Chinese and in English gives the same figures, each in its language's format.
Names from the data show as text on the rendered pages and never run as markup."""
from __future__ import annotations

import json
import re

import nbformat
import pytest
import yaml

from ecom_insights.cli import main

SCRIPT = "<script>alert(1)</script>"
ORDERS = f"""order_id,store_id,store_name,region,ordered_at,item_id,item_name,quantity,unit_price,customer
A1,S1,"<img src=x onerror=alert(2)>",华东,2024-03-01 10:00,P1,"{SCRIPT}",2,45000.25,u1
A2,S1,"<img src=x onerror=alert(2)>",华东,2024-03-02 11:00,P2,保温杯,3,1999.90,u2
A3,S1,"<img src=x onerror=alert(2)>",华东,2024-02-20 11:00,P2,保温杯,1,1999.90,u1
"""


def run_in(tmp_path, lang: str):
    (tmp_path / "orders.csv").write_text(ORDERS, encoding="utf-8")
    plan = {"name": f"shop-{lang}", "language": lang,
            "sources": {"adapter": "tables", "tables": {"sales": {"path": str(tmp_path / "orders.csv"),
                                                                  "columns": {"customer": "user_id"}}}},
            "scopes": {"stores": "all"}, "date_ranges": [{"start": "2024-03-01", "end": "2024-03-31"}]}
    path = tmp_path / f"plan-{lang}.yaml"
    path.write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    out = tmp_path / f"run-{lang}"
    assert main(["run", str(path), "--output", str(out)]) == 0
    return out / "reports" / "store-S1" / "2024-03-01_2024-03-31"


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("languages")
    return run_in(tmp, "zh-CN"), run_in(tmp, "en")


def tile_values(report_dir) -> dict[str, float]:
    """The KPI tiles of an executed report, read back from its HTML output as numbers."""
    nb = nbformat.read(report_dir / "report.ipynb", as_version=4)
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    values = {}
    for label, value in re.findall(r'<div class="kpi-label">(.*?)</div><div class="kpi-value">(.*?)</div>', html):
        number = float(re.sub(r"[^\d.]", "", value))
        values[label] = number * 1e4 if value.endswith("万") else number
    return values


def test_zh_and_en_reports_show_the_same_numbers(both):
    zh_dir, en_dir = both
    zh, en = (json.loads((d / "metrics.json").read_text()) for d in both)
    assert zh.pop("lang") == "zh-CN"
    assert en.pop("lang") == "en"
    assert zh == en
    zh_tiles, en_tiles = tile_values(zh_dir), tile_values(en_dir)
    pairs = {"净销售额": "Net revenue", "订单数": "Orders", "客单价": "Average order value", "销量": "Units sold",
             "买家数": "Customers", "新客": "New customers", "老客": "Returning customers"}
    assert set(zh_tiles) == set(pairs)
    assert set(en_tiles) == set(pairs.values())
    for zh_label, en_label in pairs.items():
        # Chinese shows 万 with two decimals from 10,000 on, so it agrees with English to the nearest 100.
        assert zh_tiles[zh_label] == pytest.approx(en_tiles[en_label], abs=50), zh_label
    assert en_tiles["Net revenue"] == zh["revenue"] == 96000.2


def test_names_from_data_are_escaped(both):
    for report_dir in both:
        page = (report_dir.parents[2] / "site" / report_dir.relative_to(report_dir.parents[2]) / "index.html").read_text()
        assert SCRIPT not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img src=x onerror" not in page
    index = (both[0].parents[2] / "site" / "index.html").read_text()
    assert "&lt;img src=x onerror=alert(2)&gt;" in index
    assert "<img src=x" not in index


@pytest.mark.browser
def test_script_names_shown_as_text_in_browser(both):
    from playwright.sync_api import sync_playwright
    from test_site import CHROMIUM
    page_path = both[1].parents[2] / "site" / both[1].relative_to(both[1].parents[2]) / "index.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu",
                                                                     "--disable-background-networking"])
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(page_path.as_uri())
        text = page.inner_text("body")
        browser.close()
    assert not dialogs
    assert SCRIPT in text
    assert "<img src=x onerror=alert(2)>" in text
