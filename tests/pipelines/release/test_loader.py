"""The streaming loader: the same samples as lerobot's LeRobotDataset, deterministic and resumable batches, the same
from worker processes, and the manifest's mixture proportions."""

import numpy as np
import pytest
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from pipelines.lerobot import layout
from pipelines.release.loader import DatasetDraw, LoaderConfig, ReleaseBatches
from pipelines.release.open import PulledRelease
from tests.conftest import psnr

SMALL = LoaderConfig(batch_size=8, chunk=16, seed=3, workers=0)


@pytest.fixture(scope="module")
def release(built_home):
    return PulledRelease(built_home / "pyramid")


def equal_batches(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(
        torch.equal(value, second[key]) if isinstance(value, torch.Tensor) else value == second[key]
        for key, value in first.items()
    )


def test_samples_are_what_lerobot_reads_at_the_same_frames(release):
    checked = set()
    for batch in release.loader(SMALL, stop=6):
        entry = next(e for e in release.manifest.datasets if e.dataset == batch["dataset"])
        root = release.folder / entry.path
        fps = LeRobotDataset(f"check/{entry.dataset}", root=root).fps
        chunk = {layout.ACTION_KEY: [i / fps for i in range(16)]} if layout.ACTION_KEY in batch else None
        reference = LeRobotDataset(f"check/{entry.dataset}", root=root, delta_timestamps=chunk)
        starts = {int(e["episode_index"]): int(e["dataset_from_index"]) for e in reference.meta.episodes}
        cameras = [key for key in batch if key.startswith("observation.images.")]
        for row, (episode, step) in enumerate(zip(batch["episode_index"], batch["frame_index"], strict=True)):
            expected = reference[starts[int(episode)] + int(step)]
            assert int(expected["episode_index"]) == int(episode) and int(expected["frame_index"]) == int(step)
            for key in (layout.STATE_KEY, layout.ACTION_KEY, "action_is_pad"):
                if key in batch:
                    assert torch.equal(batch[key][row], expected[key]), key
            for camera in cameras:
                theirs = (expected[camera].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
                assert psnr(batch[camera][row].numpy(), theirs) >= 40, camera
            assert batch["task"][row] == expected["task"]
        checked.add(batch["dataset"])
    assert len(checked) >= 2  # datasets of different embodiments, cameras and widths


def test_a_resumed_run_and_worker_processes_give_the_batches_of_one_uninterrupted_run(release):
    straight = list(release.loader(SMALL, stop=6))
    assert [b["batch"] for b in straight] == list(range(6))
    resumed = list(release.loader(SMALL, start=3, stop=6))
    assert all(equal_batches(a, b) for a, b in zip(straight[3:], resumed, strict=True))
    two_workers = list(release.loader(LoaderConfig(batch_size=8, chunk=16, seed=3, workers=2), stop=6))
    assert all(equal_batches(a, b) for a, b in zip(straight, two_workers, strict=True))
    other_seed = next(iter(release.loader(LoaderConfig(batch_size=8, chunk=16, seed=4, workers=0), stop=1)))
    assert not equal_batches(straight[0], other_seed)


def test_batches_follow_the_manifest_mixture_weights(release):
    batches = ReleaseBatches(release.folder, release.manifest, SMALL)
    draws = 4000
    counts = {name: 0 for name in batches.names}
    for number in range(draws):
        counts[batches.plan(number)[0]] += 1
    for name, weight in zip(batches.names, batches.weights, strict=True):
        sigma = np.sqrt(draws * weight * (1 - weight))
        assert abs(counts[name] - draws * weight) <= 4 * sigma, (name, counts[name], draws * weight)


def test_only_the_datasets_asked_for_are_drawn(release):
    wanted = release.dataset_names[:1]
    assert {b["dataset"] for b in release.loader(SMALL, stop=3, datasets=wanted)} == set(wanted)
    with pytest.raises(ValueError, match="none of the datasets"):
        ReleaseBatches(release.folder, release.manifest, SMALL, datasets=["absent"])


def test_draws_give_their_own_weights_and_episodes_and_frames_come_at_the_asked_size(release):
    first, second = release.dataset_names[:2]
    entry = next(e for e in release.manifest.datasets if e.dataset == first)
    episodes = LeRobotDataset(f"check/{first}", root=release.folder / entry.path).meta.total_episodes
    draws = {first: DatasetDraw(1.0, (episodes - 1,)), second: DatasetDraw(0.0)}
    resized = LoaderConfig(batch_size=8, chunk=16, seed=3, workers=0, image_size=16)
    batches = list(release.loader(resized, stop=4, datasets=draws))
    assert {b["dataset"] for b in batches} == {first}  # a weight of 0 is never drawn
    assert all((b["episode_index"] == episodes - 1).all() for b in batches)
    cameras = [key for key in batches[0] if key.startswith("observation.images.")]
    assert cameras and all(batches[0][key].shape == (8, 16, 16, 3) for key in cameras)
    with pytest.raises(ValueError, match="none of the episodes"):
        next(iter(release.loader(SMALL, stop=1, datasets={first: DatasetDraw(1.0, (10_000,))})))
