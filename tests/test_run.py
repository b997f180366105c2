"""Runs of whole plans through the command line: runs.csv, metrics.json, skipping unchanged reports,
failures and time-outs isolated per report, and the options that change where a run goes."""
from __future__ import annotations

import json

import nbformat
import pandas as pd
import psutil
import pytest
import yaml

from ecom_insights.cli import main
from ecom_insights.runner import RUNS_COLUMNS

from conftest import PROJECT

ORDERS = """order_id,store_id,region,ordered_at,amount,customer
A1,S1,East,2024-03-01 10:00,100.00,u1
A2,S1,East,2024-03-02 11:00,50.50,u2
A3,S2,West,2024-03-03 12:00,80.00,
A4,S2,West,2024-03-20 12:00,20.00,u1
A5,S3,West,2024-02-25 09:00,10.00,u3
"""


def small_plan(tmp_path, **extra) -> str:
    (tmp_path / "orders.csv").write_text(ORDERS)
    plan = {"name": "small", "language": "en",
            "sources": {"adapter": "tables", "tables": {"sales": {"path": str(tmp_path / "orders.csv"),
                                                                  "columns": {"customer": "user_id"}}}},
            "scopes": {"stores": "all", "regions": "all"},
            "date_ranges": [{"start": "2024-03-01", "end": "2024-03-31"}],
            "output": str(tmp_path / "plan-output"), "workers": 2, "pdf": False, **extra}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan, allow_unicode=True))
    return str(path)


def runs(run_dir) -> pd.DataFrame:
    return pd.read_csv(run_dir / "runs.csv", dtype=str, keep_default_na=False)


def test_demo_run_writes_runs_and_metrics(demo_run):
    table = runs(demo_run.run_dir)
    assert list(table.columns) == list(RUNS_COLUMNS)
    assert set(table["status"]) == {"ok"}
    assert set(table["scope_kind"]) == {"store", "region"}
    assert table.groupby("scope_kind")["scope_id"].nunique().min() >= 2
    for row in table.itertuples():
        assert not row.report_dir.startswith("/")
        metrics = json.loads((demo_run.run_dir / row.report_dir / "metrics.json").read_text())
        for key in ("scope_kind", "scope_id", "start", "end", "currency", "revenue", "orders", "aov", "units", "customers"):
            assert key in metrics
        assert (metrics["scope_kind"], metrics["scope_id"], metrics["start"], metrics["end"]) == \
               (row.scope_kind, row.scope_id, row.start, row.end)
        assert metrics["currency"] == "CNY"
        assert metrics["orders"] > 0
        assert metrics["aov"] == pytest.approx(metrics["revenue"] / metrics["orders"], abs=0.01)


def test_demo_store_reports_add_up_to_regions(demo_run):
    records = [json.loads(p.read_text()) for p in demo_run.run_dir.glob("reports/*/*/metrics.json")]
    stores = pd.DataFrame([r for r in records if r["scope_kind"] == "store"])
    regions = pd.DataFrame([r for r in records if r["scope_kind"] == "region"]).set_index(["scope_id", "start", "end"])
    by_region = stores.groupby(["region", "start", "end"])["revenue"].sum()
    assert len(by_region) == len(regions)
    for (region, start, end), revenue in by_region.items():
        assert regions.loc[(region, start, end), "revenue"] == pytest.approx(revenue, abs=0.05)


def test_rerun_skips_unchanged_reports(tmp_path):
    plan = small_plan(tmp_path)
    out = tmp_path / "run"
    assert main(["run", plan, "--output", str(out)]) == 0
    first = runs(out)
    assert set(first["status"]) == {"ok"}
    assert len(first) == 5  # stores S1, S2, S3 and regions East, West
    assert main(["run", plan, "--output", str(out)]) == 0
    assert set(runs(out)["status"]) == {"skipped"}
    (tmp_path / "orders.csv").write_text(ORDERS + "A6,S1,East,2024-03-05 10:00,5.00,u9\n")
    assert main(["run", plan, "--output", str(out)]) == 0
    assert set(runs(out)["status"]) == {"ok"}  # the data changed, so every report runs again
    metrics = json.loads((out / "reports/store-S1/2024-03-01_2024-03-31/metrics.json").read_text())
    assert metrics["revenue"] == 155.5
    assert metrics["orders"] == 3


def test_output_option_replaces_plan_output(tmp_path):
    plan = small_plan(tmp_path, scopes={"stores": {"top": 1}})
    out = tmp_path / "elsewhere"
    assert main(["run", plan, "--output", str(out)]) == 0
    assert (out / "runs.csv").exists()
    assert not (tmp_path / "plan-output").exists()
    assert runs(out)["scope_id"].tolist() == ["S1"]  # the top store by revenue


def failing_notebook(path, failing_store: str, how: str):
    """A copy of the built-in store report whose first cell fails (or sleeps) for one store."""
    nb = nbformat.read(PROJECT / "nbs" / "reports" / "store_report.ipynb", as_version=4)
    code = "raise RuntimeError('broken on purpose')" if how == "raise" else "import time; time.sleep(60)"
    nb.cells.insert(2, nbformat.v4.new_code_cell(f"if store_id == {failing_store!r}:\n    {code}"))
    nbformat.write(nb, path)
    return str(path)


def test_failing_report_recorded_others_go_on(tmp_path, capsys):
    notebook = failing_notebook(tmp_path / "team_store.ipynb", "S2", "raise")
    plan = small_plan(tmp_path, reports={"store": notebook})
    out = tmp_path / "run"
    assert main(["run", plan, "--output", str(out)]) == 1
    table = runs(out).set_index("scope_id")
    assert table.loc["S2", "status"] == "failed"
    assert "broken on purpose" in table.loc["S2", "error"]
    assert (table.drop(index="S2")["status"] == "ok").all()
    assert "failed" in capsys.readouterr().out
    assert (out / "site" / "index.html").exists()  # the site is still published


def test_report_time_limit(tmp_path):
    notebook = failing_notebook(tmp_path / "slow_store.ipynb", "S1", "sleep")
    plan = small_plan(tmp_path, reports={"store": notebook}, time_limit=20, scopes={"stores": ["S1", "S2"]})
    out = tmp_path / "run"
    assert main(["run", plan, "--output", str(out)]) == 1
    table = runs(out).set_index("scope_id")
    assert table.loc["S1", "status"] == "failed"
    assert table.loc["S1", "error"] == "timed out after 20 s"
    assert float(table.loc["S1", "seconds"]) < 40
    assert table.loc["S2", "status"] == "ok"
    kernels = [p for p in psutil.process_iter(["cmdline"]) if "ipykernel_launcher" in " ".join(p.info["cmdline"] or [])]
    assert not kernels, "a report's kernel outlived its time-out"


def test_validate_checks_without_running(tmp_path, capsys):
    plan = small_plan(tmp_path)
    out = tmp_path / "run"
    assert main(["validate", plan, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "5 reports would run" in printed
    assert "guest order (no customer id)" in printed
    assert (out / "warehouse.duckdb").exists()
    assert not (out / "reports").exists()


def test_unknown_scope_ids_rejected(tmp_path, capsys):
    plan = small_plan(tmp_path, scopes={"stores": ["S1", "S9"], "regions": ["Eastt"]})
    assert main(["run", plan, "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "scopes.stores names stores the data does not have: 'S9'" in err
    assert "Known stores: S1, S2, S3" in err
    assert not (tmp_path / "run" / "reports").exists()
    plan = small_plan(tmp_path, scopes={"regions": ["Eastt"]})
    assert main(["run", plan, "--output", str(tmp_path / "run2")]) == 2
    assert "'Eastt' (did you mean 'East'?)" in capsys.readouterr().err


def test_invalid_timezone_exits_2(tmp_path, capsys):
    plan = small_plan(tmp_path, timezone="Asia/Shangai")
    assert main(["validate", plan]) == 2
    assert "timezone 'Asia/Shangai' is not a known time zone; did you mean 'Asia/Shanghai'?" in capsys.readouterr().err


def test_invalid_plan_exits_2_with_message(tmp_path, capsys):
    path = tmp_path / "plan.yaml"
    path.write_text("sources: {adapter: demo}\ndate_ranges: []\nlanguage: fr\n")
    assert main(["validate", str(path)]) == 2
    assert "language must be one of 'zh-CN', 'en', not 'fr'" in capsys.readouterr().err


def test_missing_mapped_column_names_file_and_fix(tmp_path, capsys):
    plan = small_plan(tmp_path)
    text = yaml.safe_load(open(plan))
    text["sources"]["tables"]["sales"]["columns"] = {"customer_no": "user_id"}
    open(plan, "w").write(yaml.safe_dump(text))
    assert main(["validate", plan, "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "orders.csv" in err
    assert "'customer_no'" in err
    assert "correct `columns` in the plan" in err


def test_demo_reports_have_buy_predictions(demo_run):
    meta = json.loads((demo_run.run_dir / "models" / "next_action" / "metrics.json").read_text())
    lstm, markov = meta["metrics"]["lstm"]["buy_pr_auc"], meta["metrics"]["markov"]["buy_pr_auc"]
    assert meta["beats_baselines"]["next_action"] == (lstm > markov and lstm > meta["metrics"]["last_action"]["buy_pr_auc"])
    table = runs(demo_run.run_dir)
    for row in table.itertuples():
        predicted = pd.read_csv(demo_run.run_dir / row.report_dir / "predictions.csv", dtype=str)
        assert list(predicted.columns) == ["user_id", "item_id", "predicted_buy_probability"]
        assert len(predicted) > 0
        probabilities = predicted["predicted_buy_probability"].astype(float)
        assert probabilities.between(0, 1).all()
    report = nbformat.read(demo_run.run_dir / table["report_dir"].iloc[0] / "report.ipynb", as_version=4)
    html = "".join(o.get("data", {}).get("text/html", "") for c in report.cells for o in c.get("outputs", []))
    expected = "位活跃用户中" if meta["beats_baselines"]["next_action"] else "未胜过马尔可夫基线"
    assert expected in html


def test_orders_only_reports_say_they_need_events(online_retail_run):
    assert not (online_retail_run.run_dir / "models" / "next_action").exists()
    report_dir = online_retail_run.run_dir / runs(online_retail_run.run_dir)["report_dir"].iloc[0]
    report = nbformat.read(report_dir / "report.ipynb", as_version=4)
    html = "".join(o.get("data", {}).get("text/html", "") for c in report.cells for o in c.get("outputs", []))
    assert "The funnel needs a behaviour event log" in html
    assert "Buy predictions need a behaviour event log" in html
    assert "RFM segment" in html
    assert "Cohort (first order month)" in html
    assert not (report_dir / "predictions.csv").exists()
