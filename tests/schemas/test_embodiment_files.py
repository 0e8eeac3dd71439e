"""Embodiments as files: the built-in ones, a user's on the search path, validation that names the file and the
field, reading vectors by source keys, cameras by alias."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic_core import PydanticUndefined

from schemas.embodiment import (
    BUILTIN_DIR,
    CameraDocument,
    CameraMismatchError,
    Embodiment,
    EmbodimentDocument,
    EmbodimentFileError,
    GroupDocument,
    UnknownEmbodimentError,
    embodiment_origin,
    get_embodiment,
    load_embodiment_file,
    registered_embodiments,
    write_embodiment_file,
)
from tests.conftest import REPO_ROOT

ARM = {
    "name": "lab_arm",
    "fps": 15,
    "control_mode": "joint_position",
    "cameras": ["front", {"name": "wrist", "aliases": ["hand"]}],
    "state": [{"name": "joint", "size": 6}, {"name": "gripper", "size": 1}],
    "action": [{"name": "joint", "size": 6}, {"name": "gripper", "size": 1, "binary": True}],
}


@pytest.fixture
def user_embodiments(tmp_path, monkeypatch) -> Path:
    """An empty ``$PYRAMID_HOME/embodiments`` on the search path."""
    monkeypatch.setenv("PYRAMID_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PYRAMID_EMBODIMENT_PATH", raising=False)
    folder = tmp_path / "home" / "embodiments"
    folder.mkdir(parents=True)
    return folder


def test_every_built_in_embodiment_is_a_file_that_round_trips(tmp_path):
    built_in = [
        e for name, e in registered_embodiments().items() if Path(embodiment_origin(name)).parent == BUILTIN_DIR
    ]
    assert len(built_in) == len(list(BUILTIN_DIR.glob("*.yaml"))) >= 14
    for embodiment in built_in:
        assert Embodiment.from_document(embodiment.to_document()) == embodiment
        assert load_embodiment_file(write_embodiment_file(embodiment, tmp_path)) == embodiment


def test_a_users_file_is_found_by_name_with_its_pseudo_embodiments(user_embodiments):
    (user_embodiments / "lab_arm.yaml").write_text(yaml.safe_dump(ARM))
    arm = get_embodiment("lab_arm")
    assert (arm.state_dim, arm.action_dim, arm.tag, arm.binary_action_dims()) == (7, 7, "lab_arm", [6])
    assert embodiment_origin("lab_arm") == str(user_embodiments / "lab_arm.yaml")
    labelled = get_embodiment("idm_lab_arm")  # labelled video of this robot trains as its own embodiment
    assert labelled.action_groups == arm.action_groups and labelled.state_dim == 0


def test_the_embodiment_path_adds_files_and_folders(tmp_path, monkeypatch, user_embodiments):
    single = tmp_path / "elsewhere" / "lab_arm.json"  # a JSON file named on the path
    single.parent.mkdir()
    single.write_text(json.dumps(ARM))
    monkeypatch.setenv("PYRAMID_EMBODIMENT_PATH", f"{single}:{tmp_path / 'missing_folder'}")
    assert get_embodiment("lab_arm").cameras == ("front", "wrist")


def test_one_name_defined_twice_differently_names_both_files(tmp_path, monkeypatch, user_embodiments):
    (user_embodiments / "lab_arm.yaml").write_text(yaml.safe_dump(ARM))
    other = tmp_path / "other"
    other.mkdir()
    (other / "lab_arm.yaml").write_text(yaml.safe_dump({**ARM, "fps": 30}))
    monkeypatch.setenv("PYRAMID_EMBODIMENT_PATH", str(other))
    with pytest.raises(
        EmbodimentFileError,
        match=f"{other}/lab_arm.yaml: embodiment 'lab_arm' is already defined "
        f"differently in {user_embodiments}/lab_arm.yaml",
    ):
        get_embodiment("lab_arm")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"fps": 0}, "field fps: Input should be greater than 0"),
        ({"name": "Lab Arm"}, "field name: String should match pattern"),
        ({"cameras": []}, "field cameras: List should have at least 1 item"),
        ({"color": "red"}, "field color: Extra inputs are not permitted"),
        ({"control_mode": "torque"}, "field control_mode: Input should be 'eef_delta', 'joint_position'"),
        (
            {"state": [{"name": "joint", "size": 6, "start": 0, "end": 6}]},
            "field state[0]: Value error, give either size",
        ),
        (
            {"action": [{"name": "joint", "start": 0, "end": 6}, {"name": "gripper", "start": 7, "end": 8}]},
            "action group 'gripper' starts at 7, expected 6",
        ),
        ({"cameras": [{"name": "front", "aliases": ["front"]}]}, "camera names and aliases must be unique"),
    ],
)
def test_a_malformed_file_names_the_file_and_the_field(change, message, user_embodiments):
    path = user_embodiments / "lab_arm.yaml"
    path.write_text(yaml.safe_dump({**ARM, **change}))
    with pytest.raises(EmbodimentFileError) as raised:
        load_embodiment_file(path)
    assert str(raised.value).startswith(f"{path}: ") and message in str(raised.value)


def test_a_file_must_carry_its_embodiments_name(user_embodiments):
    (user_embodiments / "arm.yaml").write_text(yaml.safe_dump(ARM))
    with pytest.raises(EmbodimentFileError, match="file name must be the embodiment's name"):
        get_embodiment("lab_arm")


def test_an_unknown_name_says_where_to_put_a_file(user_embodiments):
    with pytest.raises(UnknownEmbodimentError) as raised:
        get_embodiment("no_such_arm")
    assert f"Add no_such_arm.yaml to {user_embodiments}" in str(raised.value)


def arm_with(state: list[dict]) -> Embodiment:
    return Embodiment.from_document({**ARM, "state": state})


def test_gather_takes_groups_from_their_source_keys_one_after_another():
    arm = arm_with(
        [
            {"name": "joint", "size": 6, "source_key": "q"},
            {"name": "eef", "size": 3, "source_key": "pose"},
            {"name": "quat", "size": 4, "source_key": "pose"},
        ]
    )
    columns = {"q": np.arange(12.0).reshape(2, 6), "pose": np.arange(14.0).reshape(2, 7) + 100}
    np.testing.assert_array_equal(
        arm.gather("state", columns, "unused"), np.concatenate([columns["q"], columns["pose"]], 1)
    )


def test_gather_takes_an_explicit_slice_and_refuses_a_width_mismatch():
    arm = arm_with([{"name": "joint", "size": 6, "source_key": "q", "source_index": [1, 7]}])
    columns = {"q": np.arange(16.0).reshape(2, 8)}
    np.testing.assert_array_equal(arm.gather("state", columns, "q"), columns["q"][:, 1:7])
    whole = arm_with([{"name": "joint", "size": 6}])
    with pytest.raises(ValueError, match="'q' has 8 values per frame, embodiment 'lab_arm''s state groups take 6"):
        whole.gather("state", columns, "q")
    with pytest.raises(KeyError, match="state group 'joint' reads 'qpos', which the source does not have"):
        whole.gather("state", columns, "qpos")


def test_cameras_match_by_name_or_alias_and_a_mismatch_says_what_to_add(user_embodiments):
    (user_embodiments / "lab_arm.yaml").write_text(yaml.safe_dump(ARM))
    arm = get_embodiment("lab_arm")
    assert arm.match_cameras({"observation.images.front": ["front"], "observation.images.hand": ["hand"]}) == {
        "observation.images.front": "front",
        "observation.images.hand": "wrist",
    }
    with pytest.raises(
        CameraMismatchError,
        match=f"camera 'side' is not a camera of embodiment 'lab_arm' .*add 'side', "
        f"or an alias for it, to {user_embodiments}/lab_arm.yaml",
    ):
        arm.match_cameras({"front": [], "wrist": [], "side": ["side"]})
    with pytest.raises(CameraMismatchError, match=r"has cameras \['wrist'\] that the source lacks"):
        arm.match_cameras({"front": []})


def field_reference() -> str:
    """The field tables of docs/embodiments.md, from the file format's own models."""

    def table(model) -> str:
        rows = ["| field | default | meaning |", "| --- | --- | --- |"]
        for name, field in model.model_fields.items():
            required = field.default is PydanticUndefined and field.default_factory is None
            default = (
                "required" if required else repr(field.default_factory() if field.default_factory else field.default)
            )
            rows.append(f"| `{name}` | {default} | {field.description} |")
        return "\n".join(rows)

    return (
        f"### The file\n\n{table(EmbodimentDocument)}\n\n### A state or action group\n\n{table(GroupDocument)}\n\n"
        f"### A camera with aliases\n\n{table(CameraDocument)}\n"
    )


def test_the_documented_file_format_is_the_codes():
    assert field_reference() in (REPO_ROOT / "docs" / "embodiments.md").read_text(), (
        "docs/embodiments.md's field reference differs from schemas/embodiment.py: paste field_reference() there"
    )
