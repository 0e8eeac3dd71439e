"""The teleop asset on a real Dagster instance, and the Definitions that `dagster dev` loads."""

import json

from dagster import DagsterInstance, materialize

from assets.definitions import defs
from assets.resources import PyramidHome
from assets.teleop import teleop_datasets
from tests.conftest import GR00T_DEMO


def test_definitions_load_with_every_asset():
    assert {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()} == {"teleop_datasets"}


def test_teleop_asset_materialises_the_gr00t_demo_with_metadata(tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text(f"teleop:\n  - name: gr00t_pick_n_place\n    path: {GR00T_DEMO}\n    format: lerobot\n")
    home = PyramidHome(path=str(tmp_path / "home"), sources_file=str(sources))
    with DagsterInstance.ephemeral() as instance:
        result = materialize([teleop_datasets], resources={"home": home}, partition_key="gr00t_pick_n_place", instance=instance)
        assert result.success
        (materialization,) = result.asset_materializations_for_node("teleop_datasets")
        metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["episodes"] == 5 and metadata["frames"] == 2096 and metadata["quarantined"] == 0
    assert metadata["hours"] == round(2096 / 20 / 3600, 4)
    info = json.loads((tmp_path / "home/datasets/teleop/gr00t_pick_n_place/meta/info.json").read_text())
    assert info["total_episodes"] == 5
