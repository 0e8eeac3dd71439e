"""The sim asset on a real Dagster instance: embedded source demos multiplied, ingested and checked."""

import pytest
import yaml
from dagster import DagsterInstance, materialize

from assets.embedded import embedded_teleop_demos
from assets.resources import PyramidHome, RayResource
from assets.sim import sim_datasets

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

IN_PROCESS = RayResource(workers=0)


def test_sim_asset_generates_from_the_embedded_demos_and_passes_quality(tmp_path):
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"teleop": []}))
    home = PyramidHome(path=str(tmp_path / "home"), sources_file=str(tmp_path / "sources.yaml"))
    resources = {"home": home, "ray": IN_PROCESS}
    instance = DagsterInstance.ephemeral()
    small = {"config": {"demos_per_task": 2, "image_size": 32}}
    materialize(
        [embedded_teleop_demos],
        resources=resources,
        partition_key="Lift",
        instance=instance,
        run_config={"ops": {"embedded_teleop_demos": small}},
    )
    result = materialize(
        [sim_datasets],
        resources=resources,
        partition_key="Lift",
        instance=instance,
        run_config={"ops": {"sim_datasets": small}},
    )
    (materialization,) = result.asset_materializations_for_node("sim_datasets")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["successes"] == metadata["episodes"] == 2
    assert metadata["success_rate"] == round(2 / metadata["attempts"], 3)
    assert metadata["rollouts_per_minute_per_core"] > 0
    assert result.get_asset_check_evaluations()[0].passed
    assert (tmp_path / "home/datasets/sim/panda_lift/meta/info.json").is_file()
