"""Building the pyramid: merged per (source, embodiment), checked by GX, weighted, manifested, incremental."""

import json

import pandas as pd
import pytest
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from pipelines.release.build import build_pyramid
from pipelines.release.manifest import load_manifest
from schemas.errors import InputError
from schemas.home import Home
from schemas.pyramid import Layer, LayerValueSummary, MixturePolicy
from tests.pipelines.release.conftest import add_stack_episode

GROUPS = ["human_video__human_video", "oxe__widowx", "teleop__robosuite_panda"]


def test_pyramid_merges_each_source_and_embodiment_into_one_dataset(built_home):
    folder = built_home / "pyramid"
    manifest = load_manifest(folder)
    entries = {e.dataset: e for e in manifest.datasets}
    assert sorted(entries) == GROUPS
    panda = entries["teleop__robosuite_panda"]
    assert (panda.episodes, panda.frames, panda.layer) == (5, 20 + 21 + 22 + 24 + 24, Layer.REAL_ROBOT)
    assert panda.lineage.inputs == ["teleop/panda_lift", "teleop/panda_stack"]
    assert panda.hours == pytest.approx(panda.frames / 20 / 3600)
    assert all(e.checks == {"quality": True} for e in manifest.datasets)  # the real GX suite ran on each
    for entry in manifest.datasets:
        dataset = LeRobotDataset(f"pyramid/{entry.dataset}", root=folder / entry.path)
        assert (dataset.num_episodes, len(dataset)) == (entry.episodes, entry.frames)
    table = pd.read_parquet(folder / "manifest.parquet")
    assert sorted(table["dataset"]) == GROUPS and table["hours"].sum() == pytest.approx(
        sum(e.hours for e in entries.values())
    )
    assert (folder / "pyramid.png").read_bytes()[:4] == b"\x89PNG"
    assert set(manifest.files) >= {"manifest.parquet", "pyramid.png", "datasets/oxe__widowx/meta/info.json"}


def test_mixture_weights_follow_layer_budgets_and_sum_to_one(built_home):
    manifest = load_manifest(built_home / "pyramid")
    weights = {e.layer: e.mixture_weight for e in manifest.datasets if e.layer == Layer.HUMAN_WEB}
    assert sum(e.mixture_weight for e in manifest.datasets) == pytest.approx(1.0)
    # no synthetic layer yet: its budget is shared by the two present layers in proportion 0.5 : 0.2
    assert weights[Layer.HUMAN_WEB] == pytest.approx(0.2 / 0.7)
    real = {e.dataset: e for e in manifest.datasets if e.layer == Layer.REAL_ROBOT}
    ratio = real["teleop__robosuite_panda"].mixture_weight / real["oxe__widowx"].mixture_weight
    hours = real["teleop__robosuite_panda"].hours / real["oxe__widowx"].hours
    assert ratio == pytest.approx(hours ** (1 / MixturePolicy().temperature))


def test_a_rebuild_with_nothing_new_does_no_work(home):
    before = (home / "pyramid/manifest.json").read_text()
    build = build_pyramid(home, validate=pytest.fail)  # a check would run only for a rebuilt dataset
    assert build.rebuilt == [] and sorted(build.reused) == GROUPS
    assert (home / "pyramid/manifest.json").read_text() == before


def test_new_input_rebuilds_only_its_group_and_links_the_rest(home):
    old = load_manifest(home / "pyramid")
    add_stack_episode(home)
    bridge_info = home / "pyramid/datasets/oxe__widowx/meta/info.json"
    inode = bridge_info.stat().st_ino
    build = build_pyramid(home, validate=lambda root: {"quality": True})
    assert build.rebuilt == ["teleop__robosuite_panda"] and sorted(build.reused) == GROUPS[:2]
    assert bridge_info.stat().st_ino == inode  # carried over by hard link, not rewritten
    assert build.manifest.version != old.version
    panda = next(e for e in build.manifest.datasets if e.dataset == "teleop__robosuite_panda")
    assert panda.episodes == 6
    assert json.loads(bridge_info.read_text())["total_episodes"] == 4


def test_the_latest_measured_layer_value_goes_into_the_next_manifest(home):
    """Layer value is measured on a published release; the next build carries it, naming that release, even
    when no dataset changed. A file that is not a summary is refused naming it."""
    measured_on = load_manifest(home / "pyramid").version
    summary = LayerValueSummary(
        measured_on=measured_on,
        within_noise=["teleop_oxe"],
        rows=[{"variant": "teleop_only", "open_loop_mse": 0.21}, {"variant": "teleop_sim", "open_loop_mse": 0.1}],
    )
    target = Home(home).layer_value(measured_on)
    target.parent.mkdir(parents=True)
    target.write_text(summary.model_dump_json())
    build = build_pyramid(home, validate=pytest.fail)  # no dataset is merged or checked again
    assert build.rebuilt == [] and build.manifest.layer_value == summary
    assert build.manifest.version != measured_on  # a new release to publish, though its files are the same
    assert load_manifest(home / "pyramid").layer_value.measured_on == measured_on
    assert build_pyramid(home, validate=pytest.fail).manifest == build.manifest  # nothing new: the build stands
    target.write_text('{"measured_on": "yesterday", "within_noise": [], "rows": []}')
    with pytest.raises(InputError, match=f"{target}: field measured_on: String should match pattern"):
        build_pyramid(home, validate=pytest.fail)


def test_empty_home_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no ingested datasets"):
        build_pyramid(tmp_path)
