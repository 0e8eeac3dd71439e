"""A pulled release, opened for training: lerobot ``LeRobotDataset``s, a weighted mixture, or HF ``datasets``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from pipelines.lerobot.reader import carried_embodiment
from pipelines.release.loader import DatasetDraw, LoaderConfig, release_loader
from pipelines.release.manifest import load_manifest
from schemas.errors import InputError
from schemas.pyramid import ReleaseManifest

if TYPE_CHECKING:
    import datasets
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

__all__ = ["IncompleteReleaseError", "MixtureDataset", "PulledRelease", "UnverifiedFileError"]


class IncompleteReleaseError(InputError):
    """A manifest without the files it lists (a release folder inside a store, or a half-copied one)."""


class UnverifiedFileError(InputError):
    """A pulled release holds a file its manifest does not list."""


class MixtureDataset(Dataset):
    """The frames of several datasets end to end; ``sampler()`` draws them with the release's weights.

    A dataset's weight is the probability that a drawn frame comes from it (spread evenly over its frames),
    so a 10-minute dataset of weight 0.5 is seen as often as a 10-hour one of weight 0.5. Items carry a
    ``"dataset"`` key; datasets of different embodiments have different keys, so batch them per embodiment.
    """

    def __init__(self, members: dict[str, LeRobotDataset], weights: dict[str, float]):
        self.names = list(members)
        self.members = [members[name] for name in self.names]
        total = sum(weights[name] for name in self.names)
        if total <= 0:
            raise ValueError("mixture weights of the opened datasets sum to 0")
        self.weights = {name: weights[name] / total for name in self.names}
        self.offsets = torch.cumsum(torch.tensor([0] + [len(m) for m in self.members]), 0)

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(dataset number, frame index inside it) of a mixture index."""
        member = int(torch.searchsorted(self.offsets, index, right=True)) - 1
        return member, index - int(self.offsets[member])

    def __getitem__(self, index: int) -> dict[str, Any]:
        member, inner = self.locate(index)
        return {**self.members[member][inner], "dataset": self.names[member]}

    def sampler(self, num_samples: int, generator: torch.Generator | None = None) -> WeightedRandomSampler:
        per_frame = torch.cat(
            [
                torch.full((len(m),), self.weights[name] / len(m), dtype=torch.float64)
                for name, m in zip(self.names, self.members, strict=True)
            ]
        )
        return WeightedRandomSampler(per_frame, num_samples, replacement=True, generator=generator)


class PulledRelease:
    """A release folder written by ``pull_release`` (or a built pyramid): its manifest and datasets."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        manifest = load_manifest(self.folder)
        if manifest is None:
            raise FileNotFoundError(f"{self.folder}: no manifest.json; not a (completely) pulled release")
        self.manifest: ReleaseManifest = manifest
        missing = [path for path in manifest.files if not (self.folder / path).is_file()]
        if missing:
            raise IncompleteReleaseError(
                f"{self.folder}: {len(missing)} of the {len(manifest.files)} files its manifest lists are not there "
                f"(first: {missing[0]}); a release inside a store keeps its files as objects: pull it "
                "(pyramid pull STORE --version V --dest DIR) and open the pulled folder"
            )
        for entry in manifest.datasets:
            self._check_listed(entry.path)
            carried_embodiment(self.folder / entry.path)  # a user's embodiment travels in its datasets

    def _check_listed(self, dataset_path: str) -> None:
        """Only verified files are served: a file in a dataset's folder that the manifest does not list (one
        added after the pull) makes the release refuse to open."""
        folder = self.folder / dataset_path
        for path in folder.rglob("*"):
            if path.is_file() and path.relative_to(self.folder).as_posix() not in self.manifest.files:
                raise UnverifiedFileError(
                    f"{path}: not in {self.folder / 'manifest.json'}'s file list; pull the "
                    "release again into an empty folder"
                )

    @property
    def dataset_names(self) -> list[str]:
        return [entry.dataset for entry in self.manifest.datasets]

    def lerobot_datasets(self, **kwargs: Any) -> dict[str, LeRobotDataset]:
        """Every dataset as lerobot's own ``LeRobotDataset`` (keyword arguments go to it, e.g. delta_timestamps)."""
        from lerobot.datasets.lerobot_dataset import LeRobotDataset

        return {
            entry.dataset: LeRobotDataset(f"pyramid/{entry.dataset}", root=self.folder / entry.path, **kwargs)
            for entry in self.manifest.datasets
        }

    def mixture(self, **kwargs: Any) -> MixtureDataset:
        weights = {entry.dataset: entry.mixture_weight for entry in self.manifest.datasets}
        return MixtureDataset(self.lerobot_datasets(**kwargs), weights)

    def loader(
        self,
        config: LoaderConfig | None = None,
        start: int = 0,
        stop: int | None = None,
        datasets: Sequence[str] | Mapping[str, DatasetDraw] | None = None,
    ) -> DataLoader:
        """Training batches streamed from the release's files (``pipelines.release.loader``): batch ``start`` on,
        drawn with the manifest's mixture weights (or the given draws'), in bounded memory."""
        return release_loader(self.folder, self.manifest, config, start, stop, datasets)

    def export_groot(self, destination: Path | str, *, overwrite: bool = False) -> dict[str, Path]:
        """Every dataset in GR00T's LeRobot v2.1 layout (``meta/modality.json`` included), one folder each."""
        from pipelines.lerobot.groot_export import export_groot
        from pipelines.runtime.atomic import check_destination

        check_destination(Path(destination), [self.folder], overwrite=True)  # its folders are checked one by one
        return {
            entry.dataset: export_groot(
                self.folder / entry.path, Path(destination) / entry.dataset, overwrite=overwrite
            )
            for entry in self.manifest.datasets
        }

    def hf_datasets(self) -> dict[str, datasets.Dataset]:
        """The tabular frames (no decoded video) of every dataset as Hugging Face ``datasets.Dataset``."""
        import datasets

        return {
            entry.dataset: datasets.Dataset.from_parquet(
                [str(p) for p in sorted((self.folder / entry.path / "data").rglob("*.parquet"))]
            )
            for entry in self.manifest.datasets
        }
