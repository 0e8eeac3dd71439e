import json
import subprocess
import sys

import pytest

from tests.conftest import GR00T_DEMO

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assets.cli", *args], capture_output=True, text=True, check=True)


def test_cli_prints_an_embodiments_modality_json_matching_gr00t():
    printed = json.loads(run_cli("embodiments", "show", "gr1_arms_only", "--modality").stdout)
    fixture = json.loads((GR00T_DEMO / "meta/modality.json").read_text())
    assert {k: (v["start"], v["end"]) for k, v in printed["action"].items()} == {
        k: (v["start"], v["end"]) for k, v in fixture["action"].items()
    }


def test_cli_convert_then_export_groot(tmp_path):
    convert = run_cli("convert", str(GR00T_DEMO), str(tmp_path / "v3"))
    assert "wrote 5 episodes, 2096 frames" in convert.stdout
    run_cli("export-groot", str(tmp_path / "v3"), str(tmp_path / "groot"))
    assert len((tmp_path / "groot/meta/episodes.jsonl").read_text().splitlines()) == 5


def run_cli_status(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assets.cli", *args], capture_output=True, text=True, check=False)


def test_convert_refuses_a_destination_holding_its_source_and_deletes_nothing(tmp_path):
    import shutil

    source = tmp_path / "data" / "gr00t"
    shutil.copytree(GR00T_DEMO, source)
    (tmp_path / "data" / "notes.txt").write_text("beside the source")
    for destination in (tmp_path / "data", tmp_path, source):
        done = run_cli_status("convert", str(source), str(destination))
        assert done.returncode == 3 and "overlaps" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "data" / "notes.txt").read_text() == "beside the source"
    assert sorted(p.name for p in source.rglob("*.parquet")) == sorted(p.name for p in GR00T_DEMO.rglob("*.parquet"))


def test_convert_exits_non_zero_when_episodes_were_quarantined_unless_allowed(tmp_path):
    import shutil

    source = tmp_path / "gr00t"
    shutil.copytree(GR00T_DEMO, source)
    episodes = (source / "meta/episodes.jsonl").read_text().splitlines()
    (source / "meta/episodes.jsonl").write_text("\n".join(episodes[:3]) + "\n")  # three episodes are enough
    (source / "data/chunk-000/episode_000002.parquet").write_bytes(b"not parquet")
    done = run_cli_status("convert", str(source), str(tmp_path / "out"))
    assert done.returncode == 4 and "wrote 2 episodes" in done.stdout and "1 quarantined" in done.stdout
    assert "--allow-quarantine" in done.stderr
    assert "episode_000002.parquet" in done.stderr  # the quarantine names the file
    assert run_cli_status("convert", str(source), str(tmp_path / "out"), "--allow-quarantine").returncode == 0


@pytest.mark.parametrize("quiet", [False, True])
def test_quiet_mode_keeps_robosuites_import_warnings_out_even_where_logs_are_kept(quiet):
    setup = "from pipelines.runtime.quiet import quiet_libraries; quiet_libraries(keep_logs=True); " if quiet else ""
    done = subprocess.run(
        [sys.executable, "-c", setup + "import logging, robosuite; logging.getLogger('robosuite_logs').error('kept')"],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = done.stdout + done.stderr
    assert ("[robosuite WARNING]" in printed) is not quiet  # without it, robosuite warns about its macro file
    assert "kept" in printed  # errors still show
