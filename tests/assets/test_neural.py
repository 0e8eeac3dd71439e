"""The neural-trajectory assets on a real Dagster instance: the video model trains and reports its held-out
figures against the copy baseline, the instruction matcher trains and reports its held-out accuracy, clips are
generated from every teleop first frame (each the best of 2 candidates by that matcher), and the labelled, filtered dataset reports the multiplier reached, its
rejections, the kept share per kind of instruction and its GX check."""

import json
import shutil

import numpy as np
import pytest
import torch
from dagster import DagsterInstance, materialize

from assets.neural import (
    generated_clips,
    instruction_matcher,
    neural_trajectories,
    video_model,
)
from assets.resources import PyramidHome, RayResource
from idm.config import IDMConfig
from idm.label import save_idm
from idm.model import InverseDynamicsModel
from idm.train import ActionNormaliser
from latent_actions.config import LatentActionConfig
from latent_actions.label import save_latent_action_model
from latent_actions.model import LatentActionModel
from tests.conftest import LABEL_IMAGE_SIZE
from tests.generators.video.conftest import untrained_matcher

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

VIDEO = {
    "image_size": LABEL_IMAGE_SIZE,
    "steps": 20,
    "batch_size": 4,
    "frames": 4,
    "dim": 32,
    "layers": 1,
    "sampling_steps": 2,
}
GENERATION = {"multiplier": 0.5, "oversample": 1.0, "windows": 3, "sampling_steps": 2}
MATCHER = {"image_size": LABEL_IMAGE_SIZE, "span": 16, "steps": 60, "batch_size": 8, "log_every": 20}
KEEP_ALL = {  # untrained models here: every clip kept
    "min_first_frame_psnr_db": 0.0,
    "min_idm_confidence": 0.0,
    "min_motion": 0.0,
    "max_frame_jump": 1000.0,
}


def test_video_model_generated_clips_and_neural_trajectories_materialise(label_home, instruction_home, tmp_path):
    shutil.copytree(label_home, tmp_path / "home")
    stack = instruction_home / "datasets/teleop/panda_stack"  # a second instruction, for the matcher
    shutil.copytree(stack, tmp_path / "home/datasets/teleop/panda_stack")
    home = PyramidHome(path=str(tmp_path / "home"), sources_file=str(tmp_path / "sources.yaml"))
    (tmp_path / "sources.yaml").write_text("{}\n")
    torch.manual_seed(0)  # untrained label models: this test is about the wiring, the label tests about quality
    idm = InverseDynamicsModel(
        IDMConfig(
            embodiment="robosuite_panda", camera="agentview", action_dim=7, image_size=LABEL_IMAGE_SIZE, frame_gap=4
        )
    )
    save_idm(home.home.idm("robosuite_panda"), idm, ActionNormaliser(np.zeros(7, np.float32), np.ones(7, np.float32)))
    save_latent_action_model(
        home.home.latent_action_model(),
        LatentActionModel(LatentActionConfig(image_size=LABEL_IMAGE_SIZE, patch_size=8, frame_gap=8)),
    )
    resources = {"home": home, "ray": RayResource(workers=0)}
    instance = DagsterInstance.ephemeral()

    trained = materialize(
        [video_model], resources=resources, instance=instance, run_config={"ops": {"video_model": {"config": VIDEO}}}
    )
    (model,) = trained.asset_materializations_for_node("video_model")
    assert {
        "held_out_mse",
        "copy_first_frame_mse",
        "held_out_sample_mse",
        "sha256",
        "quality_plot",
        "held_out_sample",
    } <= set(model.metadata)
    (check,) = trained.get_asset_check_evaluations()
    assert check.check_name == "beats_copy_baseline" and "copy_first_frame_mse" in check.metadata
    assert (tmp_path / "home/models/video/robosuite_panda/model_index.json").is_file()

    matched = materialize(
        [instruction_matcher],
        resources=resources,
        instance=instance,
        run_config={"ops": {"instruction_matcher": {"config": MATCHER}}},
    )
    (matcher,) = matched.asset_materializations_for_node("instruction_matcher")
    assert {"pair_accuracy", "threshold", "kept_true", "kept_swapped", "sha256", "quality_plot"} <= set(
        matcher.metadata
    )
    assert matcher.metadata["instructions"].value == ["lift the red cube", "stack the red cube on the green cube"]
    (check,) = matched.get_asset_check_evaluations()
    assert check.check_name == "beats_chance" and check.passed == (matcher.metadata["pair_accuracy"].value > 0.5)
    clips = materialize(
        [generated_clips],
        resources=resources,
        instance=instance,
        run_config={"ops": {"generated_clips": {"config": {**GENERATION, "best_of": 2}}}},
    )
    (generated,) = clips.asset_materializations_for_node("generated_clips")
    assert generated.metadata["multiplier_before_filtering"].value >= 0.5
    assert generated.metadata["video_model_sha256"].value == model.metadata["sha256"].value
    assert "sample_clips" in generated.metadata and generated.metadata["clips"].value > 0
    assert generated.metadata["best_of"].value == 2  # each clip picked of 2 by the trained matcher
    clips_meta = json.loads((tmp_path / "home/generated/video/robosuite_panda/meta/pyramid.json").read_text())
    assert clips_meta["provenance"]["instruction_matcher_sha256"] == matcher.metadata["sha256"].value

    # the filter's path with a threshold every clip passes: untrained clips are not what this test is about
    lenient = untrained_matcher(home.home.instruction_matcher("robosuite_panda"), threshold=0.0)

    neural = materialize(
        [neural_trajectories],
        resources=resources,
        instance=instance,
        run_config={"ops": {"neural_trajectories": {"config": KEEP_ALL}}},
    )
    (labelled,) = neural.asset_materializations_for_node("neural_trajectories")
    checks = {c.check_name: c for c in neural.get_asset_check_evaluations()}
    assert checks["quality"].passed
    kept, rejected = labelled.metadata["episodes"].value, labelled.metadata["quarantined"].value
    assert kept + rejected == generated.metadata["clips"].value and kept > 0
    assert labelled.metadata["multiplier_requested"].value == 0.5
    assert labelled.metadata["multiplier"].value >= 0.5 and checks["multiplier_reached"].passed
    assert (tmp_path / "home/datasets/neural/robosuite_panda/meta/info.json").is_file()
    assert labelled.metadata["kept_share"].value == {"original": 1.0, "counterfactual": 1.0}
    meta = json.loads((tmp_path / "home/datasets/neural/robosuite_panda/meta/pyramid.json").read_text())
    assert meta["provenance"]["model_checkpoints"]["instruction_matcher"] == lenient
