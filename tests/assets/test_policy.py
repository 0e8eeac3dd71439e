"""The policy assets on a real Dagster instance: the reference policy trains on the latest published release
and reports open- and closed-loop figures with plots; the layer-value table compares it with the same budget
without each layer (here the release has one layer, so the only variant left is refused with its reason)."""

import json

import pytest
from dagster import DagsterInstance, materialize

from assets.policy import layer_value, reference_policy
from assets.resources import PyramidHome, RayResource, ReleaseStoreResource
from pipelines.release.store import ReleaseStore

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

SMALL = {
    "pretrain_steps": 6,
    "post_train_steps": 4,
    "batch_size": 4,
    "image_size": 32,
    "hidden": 32,
    "episodes": 1,
    "max_steps": 8,
}


def test_reference_policy_and_layer_value(policy_release, tmp_path):
    home = PyramidHome(path=str(tmp_path / "home"), sources_file=str(tmp_path / "sources.yaml"))
    version = ReleaseStore(str(tmp_path / "home" / "store")).publish(policy_release)
    resources = {"home": home, "ray": RayResource(workers=0), "store": ReleaseStoreResource()}
    instance = DagsterInstance.ephemeral()

    trained = materialize(
        [reference_policy],
        resources=resources,
        instance=instance,
        run_config={"ops": {"reference_policy": {"config": SMALL}}},
    )
    (policy,) = trained.asset_materializations_for_node("reference_policy")
    assert policy.metadata["release"].value == version
    assert policy.metadata["open_loop_mse"].value > 0 and 0 <= policy.metadata["closed_loop_success_Lift"].value <= 1
    assert "open_loop_plot_teleop__robosuite_panda" in policy.metadata and "loss_curve" in policy.metadata
    served = tmp_path / "home" / "policies" / version / "all" / "post_train"
    assert policy.metadata["checkpoint"].value == str(served)

    valued = materialize(
        [layer_value], resources=resources, instance=instance, run_config={"ops": {"layer_value": {"config": SMALL}}}
    )
    (table,) = valued.asset_materializations_for_node("layer_value")
    rows = json.loads((tmp_path / "home" / "policies" / version / "layer_value.json").read_text())
    assert [row["variant"] for row in rows] == ["all"]  # without its only layer nothing is left to train on
    assert rows[0]["sha256"] == policy.metadata["sha256"].value[:12]  # the reference policy's run, reused
    assert rows[0]["mse_change_vs_all"] == 0 and "| all |" in table.metadata["table"].value
