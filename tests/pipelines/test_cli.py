import json
import subprocess
import sys

from tests.conftest import GR00T_DEMO


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True, check=True)


def test_cli_prints_an_embodiments_modality_json_matching_gr00t():
    printed = json.loads(run_cli("embodiments", "--modality", "gr1_arms_only").stdout)
    fixture = json.loads((GR00T_DEMO / "meta/modality.json").read_text())
    assert {k: (v["start"], v["end"]) for k, v in printed["action"].items()} == {
        k: (v["start"], v["end"]) for k, v in fixture["action"].items()
    }


def test_cli_convert_then_export_groot(tmp_path):
    convert = run_cli("convert", str(GR00T_DEMO), str(tmp_path / "v3"))
    assert "wrote 5 episodes, 2096 frames" in convert.stdout
    run_cli("export-groot", str(tmp_path / "v3"), str(tmp_path / "groot"))
    assert len((tmp_path / "groot/meta/episodes.jsonl").read_text().splitlines()) == 5
