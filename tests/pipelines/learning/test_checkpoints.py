"""Checkpoints: weights and config round-trip with their content hash; missing or altered ones are refused; a
cached load follows a retrained checkpoint in the same folder."""

import json

import pytest
import torch

from pipelines.learning.checkpoints import (
    CONFIG_FILE,
    MissingCheckpointError,
    cached_by_content,
    load_checkpoint,
    save_checkpoint,
)


def test_a_checkpoint_round_trips_with_its_hash(tmp_path):
    model = torch.nn.Linear(3, 2)
    sha256 = save_checkpoint(tmp_path / "ckpt", model, {"size": 3})
    checkpoint = load_checkpoint(tmp_path / "ckpt")
    assert checkpoint.sha256 == sha256 and checkpoint.config == {"size": 3}
    torch.testing.assert_close(checkpoint.weights["weight"], model.weight.detach())


def test_a_missing_checkpoint_says_to_train_first(tmp_path):
    with pytest.raises(MissingCheckpointError, match="no checkpoint .*train the model first"):
        load_checkpoint(tmp_path / "nothing")


def test_an_altered_config_no_longer_matches_its_hash(tmp_path):
    save_checkpoint(tmp_path / "ckpt", torch.nn.Linear(3, 2), {"size": 3})
    document = json.loads((tmp_path / "ckpt" / CONFIG_FILE).read_text())
    document["config"]["size"] = 4
    (tmp_path / "ckpt" / CONFIG_FILE).write_text(json.dumps(document))
    with pytest.raises(ValueError, match="does not match"):
        load_checkpoint(tmp_path / "ckpt")


def test_a_cached_load_reloads_a_checkpoint_retrained_in_the_same_folder(tmp_path):
    loads = []

    def load(folder):
        loads.append(folder)
        return load_checkpoint(folder)

    cached = cached_by_content(load)
    first = save_checkpoint(tmp_path / "ckpt", torch.nn.Linear(3, 2), {"size": 3})
    assert cached(tmp_path / "ckpt").sha256 == first and cached(tmp_path / "ckpt").sha256 == first
    assert len(loads) == 1  # the second call was served from the cache
    second = save_checkpoint(tmp_path / "ckpt", torch.nn.Linear(3, 2), {"size": 3})  # retrained: new weights
    assert second != first and cached(tmp_path / "ckpt").sha256 == second and len(loads) == 2
    with pytest.raises(MissingCheckpointError, match="train the model first"):
        cached(tmp_path / "nothing")
