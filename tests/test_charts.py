"""Chinese chart labels render with a CJK font: no empty boxes, no missing-glyph warnings (failure case F25)."""
from __future__ import annotations

import io
import json
import warnings

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib import font_manager

from ecom_insights import charts

from conftest import CASES, require


def test_f25_chinese_category_chart():
    exp = json.loads(require(CASES / "F25" / "expected.json").read_text())
    data = pd.read_csv(CASES / "F25" / "category_sales_cn.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = charts.bar_chart(list(data["品类"]), list(data["销售额"]), "品类销售额", "销售额 (CNY)")
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    plt.close(fig)
    glyph_warnings = [w for w in caught if "missing from" in str(w.message)]
    assert len(glyph_warnings) == exp["glyph_missing_warnings"]
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    assert labels[-1] == exp["top_category"]  # the largest bar is drawn at the top
    assert "iPhone 配件" in labels
    assert charts.covers("".join(labels) + "品类销售额") == exp["font_has_cjk_coverage"]


def test_default_font_lacks_cjk():
    """The failure the theme prevents: matplotlib's default font has no Chinese glyphs."""
    default = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans"))
    assert not charts.covers("数码配件", default)


def test_mplfonts_fallback_without_system_cjk_font(monkeypatch):
    """With no CJK font installed, the font the mplfonts package ships is registered and used."""
    fonts = [f for f in font_manager.fontManager.ttflist if f.name not in charts.CJK_FAMILIES]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", fonts)
    charts.cjk_font.cache_clear()
    try:
        family = charts.cjk_font()
        path = charts.cjk_font_path()
    finally:
        charts.cjk_font.cache_clear()
    assert family == "Noto Sans CJK SC"
    assert "mplfonts" in path
    assert charts.covers("数码配件", path)
