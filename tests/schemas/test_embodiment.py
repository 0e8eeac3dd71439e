import json

import numpy as np
import pytest

from schemas.embodiment import (
    ControlMode,
    Embodiment,
    Group,
    UnknownEmbodimentError,
    get_embodiment,
    pseudo_embodiment,
    registered_embodiments,
)
from tests.conftest import GR00T_DEMO

REQUIRED = {
    "robosuite_panda": (16, 7),
    "robosuite_bimanual_panda": (32, 14),
    "gr1_arms_only": (44, 44),
    "widowx": (7, 7),
    "google_robot": (8, 7),
    "latent_actions": (0, 32),
    "idm_robosuite_panda": (0, 7),
    "human_video": (0, 0),
}


@pytest.mark.parametrize("name,dims", REQUIRED.items())
def test_required_embodiments_are_registered_with_their_dims(name, dims):
    embodiment = get_embodiment(name)
    assert (embodiment.state_dim, embodiment.action_dim) == dims


@pytest.mark.parametrize("name", sorted(registered_embodiments()))
def test_every_embodiment_round_trips_through_modality_json(name):
    embodiment = get_embodiment(name)
    document = json.loads(json.dumps(embodiment.to_modality()))
    rebuilt = Embodiment.from_modality(
        document,
        name=name,
        tag=embodiment.tag,
        robot_type=embodiment.robot_type,
        fps=embodiment.fps,
        control_mode=embodiment.control_mode,
    )
    assert rebuilt.same_layout(embodiment)
    assert rebuilt.binary_action_dims() == embodiment.binary_action_dims()


def test_gr1_matches_the_gr00t_demo_modality_file_exactly():
    modality = json.loads((GR00T_DEMO / "meta" / "modality.json").read_text())
    gr1 = get_embodiment("gr1_arms_only")
    for kind, groups in (("state", gr1.state_groups), ("action", gr1.action_groups)):
        assert {g.name: (g.start, g.end) for g in groups} == {
            k: (v["start"], v["end"]) for k, v in modality[kind].items()
        }
    assert gr1.cameras == ("ego_view",)
    assert gr1.tag == "gr1"


def test_gripper_dims_are_marked_binary():
    assert get_embodiment("robosuite_panda").binary_action_dims() == [6]
    assert get_embodiment("robosuite_bimanual_panda").binary_action_dims() == [6, 13]
    assert get_embodiment("robosuite_panda").to_modality()["action"]["gripper"]["binary"] is True


def test_groups_with_a_gap_are_refused():
    with pytest.raises(ValueError, match="starts at 4, expected 3"):
        Embodiment(
            name="gappy",
            tag="x",
            robot_type="x",
            cameras=("c",),
            fps=10,
            control_mode=ControlMode.EEF_DELTA,
            action_groups=(Group("a", 0, 3), Group("b", 4, 6)),
        )


def test_pseudo_embodiment_keeps_the_actions_of_one_camera_without_state():
    panda = get_embodiment("robosuite_panda")
    neural = pseudo_embodiment(panda, "neural")
    assert neural.action_groups == panda.action_groups and neural.tag != panda.tag
    assert (neural.name, neural.cameras, neural.state_dim) == ("neural_robosuite_panda", ("primary",), 0)


def test_unknown_embodiment_error_lists_the_registry():
    with pytest.raises(UnknownEmbodimentError, match="known: .*robosuite_panda.*pyramid embodiments infer"):
        get_embodiment("no_such_robot")


def test_actions_are_clipped_to_the_groups_known_limits():
    panda = get_embodiment("robosuite_panda")
    actions = np.array([[1.5, -2.0, 0.3, 0.0, 0.0, 0.0, -1.2]], dtype=np.float32)
    np.testing.assert_array_equal(panda.clip_actions(actions), np.float32([[1.0, -1.0, 0.3, 0.0, 0.0, 0.0, -1.0]]))
    gr1 = get_embodiment("gr1_arms_only")  # joint targets: no limits declared, nothing clipped
    wide = np.full((2, gr1.action_dim), 9.0, dtype=np.float32)
    np.testing.assert_array_equal(gr1.clip_actions(wide), wide)
