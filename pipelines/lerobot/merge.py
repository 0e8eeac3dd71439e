"""Merge pyramid LeRobot v3.0 datasets of one embodiment into one, losslessly.

Episodes move with their rows as read and their video packets copied (no decoding, no re-encoding; see
``LeRobotSource.read_encoded_episode``), so merging costs about what copying the files costs. Every
episode keeps its id and lineage and records the dataset it came from; quarantine records of the inputs
carry over, so a release still says what was left out and why. Extra columns are kept when every input
has them with the same shape (task-specific ones, e.g. one task's object poses, cannot share a table);
the dropped ones are listed in the merged dataset's ``meta/pyramid.json``.

Each input starts new data and video files (besides rotating at lerobot's sizes), so the files of an input are
byte-identical from one build to the next while it and the inputs before it are unchanged: a release that adds
a source (named to sort after the others, e.g. by date) re-uploads only its files and the metadata.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from pipelines.lerobot import layout
from pipelines.lerobot.encoded import EncodedEpisode
from pipelines.lerobot.reader import EpisodeReadError, LeRobotSource
from pipelines.lerobot.writer import NEW_FILES, WriterConfig, WriteReport, write_dataset
from schemas.episode import RejectedEpisode

__all__ = ["merge_datasets"]


def _extras(source: LeRobotSource) -> dict[str, list[int]]:
    return json.loads((source.root / layout.PYRAMID_META_PATH).read_text()).get("extras", {})


def _episodes(
    sources: Sequence[LeRobotSource], kept_extras: set[str]
) -> Iterator[EncodedEpisode | RejectedEpisode | object]:
    for number, source in enumerate(sources):
        if number:
            yield NEW_FILES
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
            episode = encoded.episode
            extras = {column: values for column, values in episode.extras.items() if column in kept_extras}
            notes = {**episode.notes, "dataset": name}
            yield replace(encoded, episode=replace(episode, extras=extras, notes=notes))


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
    shapes = [_extras(source) for source in sources]
    kept = {column for column, shape in shapes[0].items() if all(other.get(column) == shape for other in shapes[1:])}
    dropped = {s.root.name: sorted(set(extras) - kept) for s, extras in zip(sources, shapes, strict=True)}
    provenance = {
        "merged_from": [str(s.root) for s in sources],
        "dropped_extras": {k: v for k, v in dropped.items() if v},
    }
    config = WriterConfig(continue_on_invalid=True)
    return write_dataset(
        destination, first.embodiment, first.fps, _episodes(sources, kept), config, on_item, provenance
    )
