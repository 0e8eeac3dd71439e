"""Merge pyramid LeRobot v3.0 datasets of one embodiment into one, losslessly.

Episodes move with their rows as read and their video packets copied (no decoding, no re-encoding; see
``LeRobotSource.read_encoded_episode``), so merging costs about what copying the files costs. Every
episode keeps its id and lineage and records the dataset it came from; quarantine records of the inputs
carry over, so a release still says what was left out and why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from pipelines.lerobot import layout
from pipelines.lerobot.encoded import EncodedEpisode
from pipelines.lerobot.reader import EpisodeReadError, LeRobotSource
from pipelines.lerobot.writer import WriterConfig, WriteReport, write_dataset
from schemas.episode import RejectedEpisode

__all__ = ["merge_datasets"]


def _episodes(sources: Sequence[LeRobotSource]) -> Iterator[EncodedEpisode | RejectedEpisode]:
    for source in sources:
        name = source.root.name
        pyramid = json.loads((source.root / layout.PYRAMID_META_PATH).read_text())
        for rejected in pyramid.get("rejected", []):
            yield RejectedEpisode(**rejected)
        for index in source.episode_indices:
            try:
                encoded = source.read_encoded_episode(index)
            except EpisodeReadError as error:
                yield RejectedEpisode(error.episode, f"file {error.path}", error.reason)
                continue
            notes = {**encoded.episode.notes, "dataset": name}
            yield replace(encoded, episode=replace(encoded.episode, notes=notes))


def merge_datasets(
    roots: Sequence[Path | str], destination: Path | str, on_item: Callable[[int], None] | None = None
) -> WriteReport:
    """Merge the datasets at ``roots`` (same embodiment and fps, written by pyramid) into ``destination``,
    replaced atomically. An unreadable or mismatched episode is quarantined with its reason."""
    if not roots:
        raise ValueError(f"{destination}: nothing to merge")
    sources = [LeRobotSource(root) for root in roots]
    first = sources[0]
    for source in sources[1:]:
        if (source.embodiment.name, source.fps) != (first.embodiment.name, first.fps):
            raise ValueError(
                f"{source.root}: {source.embodiment.name} at {source.fps} fps cannot merge with "
                f"{first.root} ({first.embodiment.name} at {first.fps} fps)"
            )
    config = WriterConfig(continue_on_invalid=True)
    return write_dataset(destination, first.embodiment, first.fps, _episodes(sources), config, on_item)
