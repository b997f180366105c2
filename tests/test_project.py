"""The project's own files agree with each other: dependencies, generated package, clean notebooks."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

from conftest import PROJECT


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    expected = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((PROJECT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert [p for p in pip if not p.startswith("-e")] == expected


def test_nbdev_export_leaves_no_diff(tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(PROJECT / "nbs", copy / "nbs")
    shutil.copy(PROJECT / "pyproject.toml", copy / "pyproject.toml")
    shutil.copytree(PROJECT / "ecom_insights", copy / "ecom_insights")
    for module in (copy / "ecom_insights").glob("*.py"): module.unlink()
    subprocess.run([str(Path(sys.executable).parent / "nbdev-export")], cwd=copy, check=True, capture_output=True)
    exported = {p.name: p.read_text() for p in (copy / "ecom_insights").glob("*.py")}
    committed = {p.name: p.read_text() for p in (PROJECT / "ecom_insights").glob("*.py")}
    assert sorted(exported) == sorted(committed)
    stale = [name for name in exported if exported[name] != committed[name]]
    assert not stale, f"run nbdev-export: these modules differ from their notebooks: {stale}"


def test_notebooks_are_committed_clean():
    for path in sorted((PROJECT / "nbs").rglob("*.ipynb")):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] != "code": continue
            assert cell.get("execution_count") is None, f"{path.name} has execution counts: run nbdev-clean"
            assert not cell.get("outputs"), f"{path.name} has outputs: run nbdev-clean"


def test_every_library_notebook_exports_a_module():
    for path in sorted((PROJECT / "nbs").glob("*.ipynb")):
        text = path.read_text()
        assert "default_exp" in text, f"{path.name} exports no module"
    reports = sorted(p.name for p in (PROJECT / "nbs" / "reports").glob("*.ipynb"))
    assert reports == ["region_report.ipynb", "store_report.ipynb"]
