"""docs/benchmarks.md is generated from benchmarks/results/*.json: a figure edited in one and not the other fails."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

REPORT = [sys.executable, str(REPO_ROOT / "benchmarks" / "report.py")]


def test_the_published_benchmarks_are_the_recorded_results():
    checked = subprocess.run([*REPORT, "--check"], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert checked.returncode == 0, checked.stderr


def test_every_result_has_the_shared_shape_and_verdicts_that_follow_from_its_figures():
    for path in sorted((REPO_ROOT / "benchmarks" / "results").glob("*.json")):
        result = json.loads(path.read_text())
        assert result["name"] == path.stem and result["commit"] and result["reference"]
        assert set(result["machine"]) == {"cores", "ram_gb", "gpu"} and isinstance(result["quick"], bool)
        for name, goal in result["goals"].items():
            assert set(goal) == {"op", "value", "met"}, f"{path.name}: goal {name}"
            measured = result["figures"][name]
            assert goal["op"] in (">=", "<="), f"{path.name}: goal {name}"
            if measured is None:
                assert goal["met"] is None, f"{path.name}: goal {name}"
            else:
                holds = measured >= goal["value"] if goal["op"] == ">=" else measured <= goal["value"]
                assert goal["met"] is holds, f"{path.name}: goal {name}"


def test_a_goal_must_judge_a_recorded_figure(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import record

    monkeypatch.setattr(record, "RESULTS", tmp_path)
    with pytest.raises(ValueError, match="ratio"):
        record.write_result("x", "t", {"speed": 1.0}, {"ratio": record.at_least(2.0, 5)}, "ref", "setup")
    path = record.write_result("x", "t", {"ratio": 2.0}, {"ratio": record.at_least(2.0, 5)}, "ref", "setup")
    assert json.loads(path.read_text())["goals"] == {"ratio": {"op": ">=", "value": 5, "met": False}}


def test_a_result_measured_on_another_node_records_that_node(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import record

    monkeypatch.setattr(record, "RESULTS", tmp_path)
    gpu_node = {"cores": 16, "ram_gb": 125.8, "gpu": "NVIDIA H200"}
    here = json.loads(record.write_result("x", "t", {"ratio": 2.0}, {}, "ref", "setup").read_text())["machine"]
    there = record.write_result("x", "t", {"ratio": 2.0}, {}, "ref", "setup", measured_on=gpu_node)
    assert here == record.machine() and json.loads(there.read_text())["machine"] == gpu_node
