"""Run a source's read units, in this process or as Ray tasks, into a LeRobot v3.0 dataset.

A format cuts its source into units (an episode of a LeRobot dataset or robomimic file, an RLDS record, a
video file) and names a task that turns one unit into episodes. In-process, the tasks run here and the
writer encodes video on its own threads. On Ray, each task also checks, measures and encodes its episodes
on the worker (``encode_episode``), so the writer only appends rows and video packets and the per-frame
work (decoding, statistics, encoding) scales with the workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import batched
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.ingest.curation import trim_idle
from pipelines.lerobot.encoded import EncodedEpisode, encode_episode
from pipelines.lerobot.video import VideoCodec
from pipelines.runtime.parallel import RayConfig, ray_map
from schemas.embodiment import Embodiment
from schemas.episode import Episode, EpisodeError, RejectedEpisode

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriterConfig, WriteReport

__all__ = ["ReadPlan", "write_plan"]

Item = Episode | EncodedEpisode | RejectedEpisode
ReadTask = Callable[..., Episode | RejectedEpisode | list[Episode | RejectedEpisode]]


@dataclass(frozen=True)
class ReadPlan:
    """How one source is read.

    Attributes:
        embodiment, fps: of the dataset written.
        read: module-level function (Ray pickles it by reference) taking one unit's arguments, returning
            its episode(s); what it cannot read comes back as ``RejectedEpisode``.
        units: argument tuples, one per unit; may be a lazy iterator (e.g. records read from a shard).
        trim_idle: trim idle lead-in/lead-out of every episode where it is read.
        select: a step over all items in order where they meet, in this process (e.g. dropping
            near-duplicates across files).
        notes: what reading does to the source as a whole (features left out, files dropped), kept in the
            written dataset's provenance.
        protect: the source's own paths, which the written dataset must not replace or lie inside.
        units_per_task: units read by one Ray task: more than one where a unit is small (an RLDS record of a
            few steps), so each task's work outweighs its scheduling.
    """

    embodiment: Embodiment
    fps: int
    read: ReadTask
    units: Iterable[tuple]
    trim_idle: bool = False
    select: Callable[[Iterable[Item]], Iterator[Item]] | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    protect: tuple[Path, ...] = ()
    units_per_task: int = 1


def _read_unit(read: ReadTask, args: tuple, trim: bool, embodiment: Embodiment) -> list[Episode | RejectedEpisode]:
    result = read(*args)
    items = result if isinstance(result, list) else [result]
    return [trim_idle(item, embodiment) if trim and isinstance(item, Episode) else item for item in items]


def _read_and_encode(
    read: ReadTask, units: tuple[tuple, ...], trim: bool, embodiment: Embodiment, fps: int, codec: VideoCodec
) -> list[EncodedEpisode | RejectedEpisode]:
    """Units read and encoded where they run; an episode breaking the contract comes back rejected."""
    encoded: list[EncodedEpisode | RejectedEpisode] = []
    for item in (item for args in units for item in _read_unit(read, args, trim, embodiment)):
        if isinstance(item, Episode):
            try:
                item = encode_episode(item, embodiment, fps, codec)
            except EpisodeError as error:
                item = RejectedEpisode(error.episode, error.field, error.reason)
        encoded.append(item)
    return encoded


def _items(plan: ReadPlan, ray: RayConfig | None, codec: VideoCodec) -> Iterator[Item]:
    if ray is None:
        for args in plan.units:
            yield from _read_unit(plan.read, args, plan.trim_idle, plan.embodiment)
        return
    batches = batched(plan.units, plan.units_per_task)
    arguments = ((plan.read, batch, plan.trim_idle, plan.embodiment, plan.fps, codec) for batch in batches)
    for items in ray_map(_read_and_encode, arguments, ray):
        yield from items


def write_plan(
    plan: ReadPlan,
    destination: Path | str,
    *,
    ray: RayConfig | None = None,
    config: WriterConfig | None = None,
    on_item: Callable[[int], None] | None = None,
    provenance: dict | None = None,
) -> WriteReport:
    """Read every unit of ``plan`` (on Ray when given) and write the dataset to ``destination`` atomically;
    bad items are quarantined and recorded, the rest lands. ``provenance`` goes into ``meta/pyramid.json``."""
    from pipelines.lerobot.writer import WriterConfig, write_dataset  # lerobot: ~20 s to import, workers skip it

    config = config or WriterConfig(continue_on_invalid=True)
    items = _items(plan, ray, config.video)
    if plan.select is not None:
        items = plan.select(items)
    provenance = {**(provenance or {}), **({"source_notes": plan.notes} if plan.notes else {})}
    return write_dataset(
        destination, plan.embodiment, plan.fps, items, config, on_item, provenance, protect=plan.protect
    )
