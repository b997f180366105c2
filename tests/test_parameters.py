"""Plans and report parameters are checked before anything runs: retyped YAML values, misspelled names, reversed
and empty date ranges (failure cases F17, F18 and F19)."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from ecom_insights.cli import main
from ecom_insights.core import PlanError
from ecom_insights.plan import parse_plan, read_parameters, read_report_parameters
from ecom_insights.warehouse import build_warehouse

from conftest import CASES, require


def team_notebook(path: Path, declared: str) -> Path:
    """A team's own report notebook: its parameters cell declares `declared`, and it writes metrics.json
    through the package's report module for a store."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(declared + '\nwarehouse = ""\noutput_dir = "."\n')
    params.metadata["tags"] = ["parameters"]
    body = nbformat.v4.new_code_cell(
        "from ecom_insights import report as r\n"
        "rep = r.Report.open(warehouse, 'store', store_id, start_date, end_date, 'en')\n"
        "r.save_metrics(rep, output_dir)\n"
        "print(r.narrative(rep)[0])\n")
    nb.cells = [params, body]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "python3", "language": "python"}
    nbformat.write(nb, path)
    return path


def declared_from_yaml(path: Path) -> str:
    """Python assignments for the defaults a case's declared_parameters.yaml lists."""
    values = yaml.safe_load(path.read_text())
    return "\n".join(f"{name} = {value!r}" for name, value in values.items())


F17_DECLARED = 'store_id = "ALL"\nregion = "CN"\nstart_date = ""\nend_date = ""\ncurrency = "CNY"\nlookback_days = 28'


def test_f17_retyped_values_rejected(tmp_path):
    exp = json.loads(require(CASES / "F17" / "expected.json").read_text())
    notebook = team_notebook(tmp_path / "team.ipynb", F17_DECLARED)
    with pytest.raises(PlanError) as err:
        read_report_parameters(CASES / "F17" / "params.yaml", notebook)
    message = str(err.value)
    assert "store_id must be text, but YAML read 0571 as the integer 377" in message
    assert 'quote it, store_id: "0571"' in message
    assert "region must be text, but YAML read NO as the boolean False" in message
    assert "start_date" not in message  # dates written as YAML dates are accepted
    fixed = read_report_parameters(CASES / "F17" / "params_fixed.yaml", notebook)
    for key in ("store_id", "region", "start_date", "end_date"):
        assert fixed[key] == exp["params_fixed.yaml"][key]


def test_f17_dates_normalised_even_unquoted(tmp_path):
    notebook = team_notebook(tmp_path / "team.ipynb", F17_DECLARED)
    path = tmp_path / "p.yaml"
    path.write_text('store_id: "0571"\nstart_date: 2024-03-01\nend_date: 2024-03-31\n')
    assert read_report_parameters(path, notebook)["start_date"] == "2024-03-01"


def test_f17_fixed_file_runs_for_store_0571(tmp_path):
    exp = json.loads((CASES / "F17" / "expected.json").read_text())["params_fixed.yaml"]
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,store_id,ordered_at,amount\nA1,0571,2024-03-01,10\nA2,0571,2024-03-31,5\nA3,0571,2024-04-01,7\n")
    plan = parse_plan(yaml.safe_dump({"sources": {"adapter": "tables", "tables": {"sales": {"path": str(orders)}}}, "date_ranges": []}))
    warehouse = build_warehouse(plan, tmp_path / "run")
    notebook = team_notebook(tmp_path / "team.ipynb", F17_DECLARED)
    out = tmp_path / "out"
    code = main(["report", "store", "--notebook", str(notebook), "--params", str(CASES / "F17" / "params_fixed.yaml"),
                 "--warehouse", str(warehouse), "--output", str(out)])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["scope_id"] == exp["store_id"]
    assert metrics["revenue"] == 15.0
    assert metrics["orders"] == 2
    assert (pd_days(metrics["start"], metrics["end"])) == exp["days_in_range"]


def pd_days(start: str, end: str) -> int:
    import datetime as dt
    return (dt.date.fromisoformat(end) - dt.date.fromisoformat(start)).days + 1


def test_f17_plan_scopes_retyped(tmp_path):
    with pytest.raises(PlanError, match=r"scopes.stores\[0\] must be text, but YAML read 0571 as the integer 377"):
        parse_plan("sources: {adapter: demo}\nscopes: {stores: [0571], regions: [NO]}\ndate_ranges: []\n")
    with pytest.raises(PlanError, match=r"scopes.regions\[0\] must be text, but YAML read NO as the boolean False"):
        parse_plan("sources: {adapter: demo}\nscopes: {regions: [NO]}\ndate_ranges: []\n")


def test_f18_misspelled_parameter_refused(tmp_path, capsys):
    declared = declared_from_yaml(require(CASES / "F18" / "declared_parameters.yaml"))
    notebook = team_notebook(tmp_path / "team.ipynb", declared)
    params = read_parameters(notebook)
    assert params["campaign_tag"].default == "utm=spring"  # a default holding '=' is still one declared parameter
    assert {"store_id", "start_date", "end_date", "region", "lookback_days", "campaign_tag"} <= set(params)
    out = tmp_path / "out"
    code = main(["report", "store", "--notebook", str(notebook), "--params", str(CASES / "F18" / "params_typo.yaml"),
                 "--warehouse", str(tmp_path / "none.duckdb"), "--output", str(out)])
    assert code != 0
    message = capsys.readouterr().err
    assert "unknown parameter 'stor_id'" in message
    assert "did you mean 'store_id'?" in message
    assert not (out / "report.ipynb").exists()  # refused before execution


def test_f18_plan_report_parameter_typo_refused(tmp_path):
    plan_path = tmp_path / "plan.yaml"
    orders = tmp_path / "orders.csv"
    orders.write_text("order_id,store_id,ordered_at,amount\nA1,S1,2024-03-01,10\n")
    plan_path.write_text(yaml.safe_dump({"sources": {"adapter": "tables", "tables": {"sales": {"path": str(orders)}}},
                                         "scopes": {"stores": "all"}, "report_parameters": {"topn": 5},
                                         "date_ranges": [{"start": "2024-03-01", "end": "2024-03-31"}]}))
    assert main(["run", str(plan_path), "--output", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run" / "reports").exists()


def test_plan_unknown_key_names_closest(tmp_path):
    with pytest.raises(PlanError, match="unknown key 'scopes.stors'; did you mean 'stores'"):
        parse_plan("sources: {adapter: demo}\nscopes: {stors: all}\ndate_ranges: []\n")


def test_f19_empty_range_report_and_reversed_range(tmp_path, capsys):
    case = require(CASES / "F19")
    exp = json.loads((case / "expected.json").read_text())
    plan = parse_plan(yaml.safe_dump({"sources": {"adapter": "tables", "tables": {"sales": {
        "path": str(case / "orders_march.csv"), "columns": {"order_date": "ordered_at"}}}}, "date_ranges": []}))
    warehouse = build_warehouse(plan, tmp_path / "run")
    out = tmp_path / "april"
    code = main(["report", "store", "--params", str(case / "params_april.yaml"), "--warehouse", str(warehouse), "--output", str(out)])
    april = exp["params_april.yaml"]
    assert code == april["exit_code"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["orders"] == april["orders"]
    assert metrics["revenue"] == float(april["revenue"])
    assert metrics["aov"] is None
    text = (out / "report.ipynb").read_text()
    assert "S01在2024年4月1日至2024年4月30日期间没有订单" in text  # the built-in report defaults to zh-CN
    assert "image/png" not in text  # the chart is replaced by a notice
    capsys.readouterr()
    code = main(["report", "store", "--params", str(case / "params_reversed.yaml"), "--warehouse", str(warehouse),
                 "--output", str(tmp_path / "reversed")])
    assert code == 2
    assert "start_date 2024-03-31 is after end_date 2024-03-01" in capsys.readouterr().err
    assert not (tmp_path / "reversed" / "report.ipynb").exists()


def test_f19_reversed_plan_range_rejected():
    with pytest.raises(PlanError, match="is reversed"):
        parse_plan("sources: {adapter: demo}\ndate_ranges: [{start: '2024-03-31', end: '2024-03-01'}]\n")
