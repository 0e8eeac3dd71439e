"""The label assets on a real Dagster instance: both models train and report their held-out figures with a
plot and a label-quality check, then a human-video source is labelled by each into checked datasets."""

import shutil

import pytest
import yaml
from dagster import DagsterInstance, materialize

from assets.labels import idm_labels, idm_model, latent_action_labels, latent_action_model
from assets.resources import PyramidHome, RayResource

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

SMALL = {"image_size": 32, "steps": 60, "batch_size": 16}


def test_models_train_and_label_a_human_video_source(label_home, tmp_path):
    shutil.copytree(label_home, tmp_path / "home")
    (tmp_path / "sources.yaml").write_text(
        yaml.safe_dump(
            {"human_video": [{"name": "standin", "path": str(tmp_path / "home/raw/videos"), "format": "video_folder"}]}
        )
    )
    home = PyramidHome(path=str(tmp_path / "home"), sources_file=str(tmp_path / "sources.yaml"))
    resources = {"home": home, "ray": RayResource(workers=0)}
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("human_video_sources", ["standin"])

    models = materialize(
        [latent_action_model],
        resources=resources,
        instance=instance,
        run_config={"ops": {"latent_action_model": {"config": SMALL}}},
    )
    (lam,) = models.asset_materializations_for_node("latent_action_model")
    assert {"psnr_db", "copy_baseline_psnr_db", "perplexity", "probe_r2", "quality_plot", "sha256"} <= set(lam.metadata)
    assert lam.metadata["grounded_in"].value == {"robosuite_panda": 8}  # the training Lift demos, not the stand-ins
    (check,) = models.get_asset_check_evaluations()
    assert check.check_name == "label_quality" and "probe_r2_floor" in check.metadata
    idm = materialize(
        [idm_model],
        resources=resources,
        instance=instance,
        partition_key="robosuite_panda",
        run_config={"ops": {"idm_model": {"config": SMALL}}},
    )
    (trained,) = idm.asset_materializations_for_node("idm_model")
    assert trained.metadata["r2"].value <= 1 and {"r2_per_dim", "r2_per_dataset", "r2_per_source"} <= set(
        trained.metadata
    )
    assert (tmp_path / "home/models/idm/robosuite_panda/model.safetensors").is_file()
    progress = [e.user_message for e in instance.all_logs(idm.run_id) if e.user_message.startswith("step ")]
    assert progress and "loss" in progress[0]  # the training's loss, logged as it trains

    labels = materialize(
        [latent_action_labels, idm_labels], resources=resources, instance=instance, partition_key="standin"
    )
    assert all(check.passed for check in labels.get_asset_check_evaluations())
    for name, folder in (
        ("latent_action_labels", "standin_latent_actions"),
        ("idm_labels", "standin_idm_robosuite_panda"),
    ):
        (materialization,) = labels.asset_materializations_for_node(name)
        assert materialization.metadata["episodes"].value == 3
        assert (tmp_path / "home/datasets/human_video" / folder / "meta/info.json").is_file()
