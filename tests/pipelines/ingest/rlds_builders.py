"""Build small RLDS builder folders with the published features.json structure of OXE datasets.

Only the Bridge shard is real (../shared/fixtures); for the other datasets these builders write
dataset_info.json, features.json (TFDS FeaturesDict/Dataset/Tensor/Image/Text nodes) and a TFRecord shard
whose per-step keys, shapes and dtypes follow each dataset's published features.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pipelines.rlds.tf_example import encode_example
from pipelines.rlds.tfrecord import write_records

_IS = {
    "is_first": ("tensor", (), "bool"),
    "is_last": ("tensor", (), "bool"),
    "is_terminal": ("tensor", (), "bool"),
    "reward": ("tensor", (), "float32"),
}
_LANG = {
    "observation/natural_language_instruction": ("text",),
    "observation/natural_language_embedding": ("tensor", (512,), "float32"),
}

# Per-step features of each dataset (key: (kind, shape, dtype)), after the published features.json files.
PUBLISHED_STEPS: dict[str, dict[str, tuple]] = {
    "fractal20220817_data": {
        "observation/image": ("image", (256, 320, 3)),
        "observation/base_pose_tool_reached": ("tensor", (7,), "float32"),
        "observation/gripper_closed": ("tensor", (1,), "float32"),
        **_LANG,
        "action/world_vector": ("tensor", (3,), "float32"),
        "action/rotation_delta": ("tensor", (3,), "float32"),
        "action/gripper_closedness_action": ("tensor", (1,), "float32"),
        "action/terminate_episode": ("tensor", (3,), "int32"),
        "action/base_displacement_vector": ("tensor", (2,), "float32"),
        "action/base_displacement_vertical_rotation": ("tensor", (1,), "float32"),
        **_IS,
    },
    "language_table": {
        "observation/rgb": ("image", (360, 640, 3)),
        "observation/effector_translation": ("tensor", (2,), "float32"),
        "observation/effector_target_translation": ("tensor", (2,), "float32"),
        "observation/instruction": ("tensor", (512,), "int32"),
        "action": ("tensor", (2,), "float32"),
        **_IS,
    },
    "droid": {
        "observation/exterior_image_1_left": ("image", (180, 320, 3)),
        "observation/exterior_image_2_left": ("image", (180, 320, 3)),
        "observation/wrist_image_left": ("image", (180, 320, 3)),
        "observation/cartesian_position": ("tensor", (6,), "float64"),
        "observation/gripper_position": ("tensor", (1,), "float64"),
        "observation/joint_position": ("tensor", (7,), "float64"),
        "action": ("tensor", (7,), "float64"),
        "action_dict/cartesian_velocity": ("tensor", (6,), "float64"),
        "action_dict/gripper_position": ("tensor", (1,), "float64"),
        "action_dict/joint_velocity": ("tensor", (7,), "float64"),
        "language_instruction": ("text",),
        "language_instruction_2": ("text",),
        "discount": ("tensor", (), "float32"),
        **_IS,
    },
    "kuka": {
        "observation/image": ("image", (512, 640, 3)),
        "observation/clip_function_input/base_pose_tool_reached": ("tensor", (), "string"),  # zlib bytes
        "observation/clip_function_input/workspace_bounds": ("tensor", (3, 3), "float32"),
        "observation/gripper_closed": ("tensor", (), "string"),  # zlib bytes
        "observation/task_id": ("tensor", (1,), "float32"),
        **_LANG,
        "action/world_vector": ("tensor", (3,), "float32"),
        "action/rotation_delta": ("tensor", (3,), "float32"),
        "action/gripper_closedness_action": ("tensor", (1,), "float32"),
        "action/terminate_episode": ("tensor", (3,), "int32"),
        **_IS,
    },
    "taco_play": {
        "observation/rgb_static": ("image", (150, 200, 3)),
        "observation/rgb_gripper": ("image", (84, 84, 3)),
        "observation/depth_static": ("tensor", (150, 200), "float32"),
        "observation/robot_obs": ("tensor", (15,), "float32"),
        **_LANG,
        "observation/structured_language_instruction": ("text",),
        "action/actions": ("tensor", (7,), "float32"),
        "action/rel_actions_world": ("tensor", (7,), "float32"),
        "action/rel_actions_gripper": ("tensor", (7,), "float32"),
        "action/terminate_episode": ("tensor", (), "float32"),
        **_IS,
    },
    "jaco_play": {
        "observation/image": ("image", (224, 224, 3)),
        "observation/image_wrist": ("image", (224, 224, 3)),
        "observation/end_effector_cartesian_pos": ("tensor", (7,), "float32"),
        "observation/end_effector_cartesian_velocity": ("tensor", (6,), "float32"),
        "observation/joint_pos": ("tensor", (8,), "float32"),
        **_LANG,
        "action/world_vector": ("tensor", (3,), "float32"),
        "action/gripper_closedness_action": ("tensor", (1,), "float32"),
        "action/terminate_episode": ("tensor", (3,), "int32"),
        **_IS,
    },
    "berkeley_autolab_ur5": {
        "observation/image": ("image", (480, 640, 3)),
        "observation/hand_image": ("image", (480, 640, 3)),
        "observation/image_with_depth": ("tensor", (480, 640, 1), "float32"),
        "observation/robot_state": ("tensor", (15,), "float32"),
        **_LANG,
        "action/world_vector": ("tensor", (3,), "float32"),
        "action/rotation_delta": ("tensor", (3,), "float32"),
        "action/gripper_closedness_action": ("tensor", (), "float32"),
        "action/terminate_episode": ("tensor", (), "float32"),
        **_IS,
    },
}


def _node(spec: tuple) -> dict[str, Any]:
    kind = spec[0]
    if kind == "image":
        return {
            "pythonClassName": "tensorflow_datasets.core.features.image_feature.Image",
            "image": {"shape": {"dimensions": [str(d) for d in spec[1]]}, "dtype": "uint8", "encodingFormat": "jpeg"},
        }
    if kind == "text":
        return {"pythonClassName": "tensorflow_datasets.core.features.text_feature.Text", "text": {}}
    _, shape, dtype = spec
    return {
        "pythonClassName": "tensorflow_datasets.core.features.tensor_feature.Tensor",
        "tensor": {"shape": {"dimensions": [str(d) for d in shape]}, "dtype": dtype, "encoding": "none"},
    }


def _nest(flat: dict[str, dict]) -> dict[str, Any]:
    """{"a/b": node} -> FeaturesDict tree."""
    tree: dict[str, Any] = {}
    for key, node in flat.items():
        *parents, leaf = key.split("/")
        level = tree
        for parent in parents:
            level = level.setdefault(parent, {})
        level[leaf] = node

    def wrap(level: dict[str, Any]) -> dict[str, Any]:
        return {
            "pythonClassName": "tensorflow_datasets.core.features.features_dict.FeaturesDict",
            "featuresDict": {"features": {k: v if "pythonClassName" in v else wrap(v) for k, v in level.items()}},
        }

    return wrap(tree)


def features_document(steps: dict[str, tuple]) -> dict[str, Any]:
    step_dict = _nest({key: _node(spec) for key, spec in steps.items()})
    root = _nest({})
    root["featuresDict"]["features"]["steps"] = {
        "pythonClassName": "tensorflow_datasets.core.features.dataset_feature.Dataset",
        "sequence": {"feature": step_dict},
    }
    return root


def _jpeg(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def random_steps(name: str, length: int, seed: int, steps: dict[str, tuple] | None = None) -> dict[str, Any]:
    """Plausible per-step values for every published key of ``name`` (or of ``steps``, a dataset of one's own)."""
    rng = np.random.default_rng(seed)
    values: dict[str, Any] = {}
    for key, spec in (steps or PUBLISHED_STEPS[name]).items():
        if spec[0] == "image":
            base = np.linspace(0, 255, spec[1][1], dtype=np.float32)[None, :, None]
            values[key] = [np.broadcast_to(base + 10 * t, spec[1]).clip(0, 255).astype(np.uint8) for t in range(length)]
        elif spec[0] == "text":
            values[key] = ["pick up the red block"] * length
        elif spec[2] == "string":
            values[key] = None  # dataset-specific bytes, set by the test
        elif spec[2] == "bool":
            values[key] = np.arange(length) == (0 if key == "is_first" else length - 1)
        elif spec[2].startswith("int"):
            values[key] = rng.integers(0, 2, size=(length, *spec[1]))
        else:
            values[key] = rng.normal(size=(length, *spec[1])).astype(np.float32)
    return values


def write_builder(root: Path, name: str, episodes: list[dict[str, Any]], steps: dict[str, tuple] | None = None) -> Path:
    """A builder folder ``root/name/1.0.0`` holding ``episodes`` (per-step values keyed as in PUBLISHED_STEPS, or
    as in ``steps``)."""
    folder = root / name / "1.0.0"
    folder.mkdir(parents=True)
    steps = steps or PUBLISHED_STEPS[name]
    (folder / "features.json").write_text(json.dumps(features_document(steps)))
    info = {
        "name": name,
        "version": "1.0.0",
        "fileFormat": "tfrecord",
        "splits": [
            {
                "name": "train",
                "shardLengths": [str(len(episodes))],
                "filepathTemplate": "{DATASET}-{SPLIT}.{FILEFORMAT}-{SHARD_X_OF_Y}",
            }
        ],
    }
    (folder / "dataset_info.json").write_text(json.dumps(info))
    records = []
    for episode in episodes:
        features: dict[str, Any] = {}
        for key, spec in steps.items():
            value = episode[key]
            if spec[0] == "image":
                features[f"steps/{key}"] = [_jpeg(frame) for frame in value]
            elif spec[0] == "text":
                features[f"steps/{key}"] = [text.encode() for text in value]
            elif isinstance(value, list):
                features[f"steps/{key}"] = value
            else:
                features[f"steps/{key}"] = np.asarray(value).reshape(-1)
        records.append(encode_example(features))
    write_records(folder / f"{name}-train.tfrecord-00000-of-00001", records)
    return folder
