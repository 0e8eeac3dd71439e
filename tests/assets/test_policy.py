"""The policy assets on a real Dagster instance: the reference policy trains on the latest published release
and reports open- and closed-loop figures with plots and rollouts; the layer-value table compares the mixtures
the release supports (here teleop only, so the full pyramid is the same data and its changes are 0)."""

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
    "episodes": 2,
    "max_steps": 8,
    "videos": 1,
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
    assert "(Wilson 95%, 2 episodes)" in policy.metadata["closed_loop_interval_Lift"].value
    assert "open_loop_plot_teleop__robosuite_panda" in policy.metadata and "loss_curve" in policy.metadata
    assert "rollouts_Lift" in policy.metadata
    run = tmp_path / "home" / "policies" / version / "all"
    assert policy.metadata["checkpoint"].value == str(run / "post_train")
    assert [video.stat().st_size > 0 for video in (run / "videos").glob("Lift_1000000_*.mp4")] == [True]

    valued = materialize(
        [layer_value], resources=resources, instance=instance, run_config={"ops": {"layer_value": {"config": SMALL}}}
    )
    (table,) = valued.asset_materializations_for_node("layer_value")
    summary = json.loads((tmp_path / "home" / "policies" / version / "layer_value.json").read_text())
    assert summary["measured_on"] == version and summary["within_noise"] == ["all"]
    baseline, full = summary["rows"]
    assert (baseline["variant"], full["variant"], full["compared_with"]) == ("teleop_only", "all", "teleop_only")
    assert full["sha256"] == policy.metadata["sha256"].value[:12]  # the reference policy's run, reused
    assert full["held_out_episodes"] == baseline["held_out_episodes"] >= 1  # the same held-out episodes
    assert full["open_loop_mse_change"] == pytest.approx(0, abs=1e-9)  # same data, recipe and seed
    assert full["lift_change"] == 0 and full["lift_verdict"] == "within noise"
    assert table.metadata["within_noise"].value == ["all"] and "| all | teleop_only |" in table.metadata["table"].value
