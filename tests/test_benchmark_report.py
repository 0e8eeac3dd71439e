"""docs/benchmarks.md is generated from benchmarks/results/*.json: a figure edited in one and not the other fails."""

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT

REPORT = [sys.executable, str(REPO_ROOT / "benchmarks" / "report.py")]


def test_the_published_benchmarks_are_the_recorded_results():
    checked = subprocess.run([*REPORT, "--check"], capture_output=True, text=True, cwd=REPO_ROOT, check=False)
    assert checked.returncode == 0, checked.stderr


def test_every_result_declares_goals_with_verdicts_and_where_it_was_measured():
    for path in sorted((REPO_ROOT / "benchmarks" / "results").glob("*.json")):
        result = json.loads(path.read_text())
        assert result["name"] == path.stem and result["commit"] and result["machine"] and result["reference"]
        for name, goal in result["goals"].items():
            assert set(goal) == {"goal", "value", "met"}, f"{path.name}: goal {name}"
            assert goal["met"] in (True, False, None)
