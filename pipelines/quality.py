"""The data-quality suite every ingested dataset must pass, validated with Great Expectations.

Expectations: timestamps exactly k/fps, no NaN/inf in state or action, actions within the embodiment's
declared limits, episode lengths within bounds, a non-empty instruction per episode, and as many video
frames per camera as data rows. GX is imported inside ``validate_dataset`` (it costs ~12 s to import).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipelines.lerobot import layout
from pipelines.lerobot.reader import LeRobotSource
from pipelines.lerobot.video import packet_times
from schemas.embodiment import Embodiment

__all__ = ["CheckOutcome", "QualityBounds", "QualityReport", "dataset_tables", "validate_dataset"]

UNDECLARED_LIMIT = 1e6  # bound for dims without declared limits: catches inf and unit blow-ups


@dataclass(frozen=True)
class QualityBounds:
    """Episode length bounds, in frames."""

    min_episode_frames: int = 2
    max_episode_frames: int = 20_000


@dataclass(frozen=True)
class CheckOutcome:
    expectation: str
    column: str
    success: bool
    unexpected: int
    examples: list = field(default_factory=list)


@dataclass
class QualityReport:
    success: bool
    outcomes: list[CheckOutcome]

    def failures(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if not o.success]

    def markdown(self) -> str:
        rows = [
            f"| {'ok' if o.success else 'FAIL'} | {o.expectation} | `{o.column}` | {o.unexpected} | {o.examples[:3]} |"
            for o in self.outcomes
        ]
        return "\n".join(
            ["| result | expectation | column | unexpected | examples |", "| --- | --- | --- | --- | --- |", *rows]
        )


def _vector_columns(table: pd.DataFrame, key: str, prefix: str) -> pd.DataFrame:
    values = np.stack(table[key].to_numpy()) if len(table) else np.empty((0, 0))
    return pd.DataFrame(values, columns=[f"{prefix}_{i}" for i in range(values.shape[1])])


def dataset_tables(dataset: LeRobotSource) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(frames, episodes): one row per frame with flattened vectors, one row per episode with counts."""
    data_files = sorted((dataset.root / "data").glob("*/*.parquet"))
    rows = pd.concat([pq.read_table(path).to_pandas() for path in data_files], ignore_index=True)
    frames = rows[["episode_index", "frame_index", "timestamp"]].copy()
    frames["timestamp_error"] = (frames["timestamp"].astype(np.float64) - frames["frame_index"] / dataset.fps).abs()
    for key, prefix in ((layout.ACTION_KEY, "action"), (layout.STATE_KEY, "state")):
        if key in rows:
            frames = pd.concat([frames, _vector_columns(rows, key, prefix)], axis=1)
    episodes = pd.DataFrame(
        [
            {"episode_index": i, "length": row["length"], "instruction": (row["tasks"] or [""])[0]}
            for i, row in sorted(dataset.layout.episodes.items())
        ]
    )
    for video_key in dataset.video_keys:
        camera = video_key.removeprefix(layout.CAMERA_PREFIX)
        counts, cache = [], {}
        for index in episodes["episode_index"]:
            path, start, end = dataset.layout.video_segment(int(index), video_key)
            if path not in cache:  # v3.0 packs many episodes per file: read each file's packet times once
                cache[path] = packet_times(path)
            times = cache[path]
            tolerance = layout.TIMESTAMP_TOLERANCE_S
            counts.append(int(np.searchsorted(times, end - tolerance) - np.searchsorted(times, start - tolerance)))
        episodes[f"video_frames_{camera}"] = counts
    return frames, episodes


def _suites(gx, embodiment: Embodiment, frames: pd.DataFrame, episodes: pd.DataFrame, bounds: QualityBounds):
    x = gx.expectations
    frame_suite = gx.ExpectationSuite(name="frames")
    frame_suite.add_expectation(x.ExpectColumnValuesToBeBetween(column="timestamp_error", min_value=0, max_value=1e-6))
    for kind, groups in (("action", embodiment.action_groups), ("state", embodiment.state_groups)):
        for group in groups:
            low, high = group.value_range or (-UNDECLARED_LIMIT, UNDECLARED_LIMIT)
            for dim in range(group.start, group.end):
                column = f"{kind}_{dim}"
                if column in frames:
                    frame_suite.add_expectation(x.ExpectColumnValuesToNotBeNull(column=column))
                    frame_suite.add_expectation(
                        x.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)
                    )
    episode_suite = gx.ExpectationSuite(name="episodes")
    episode_suite.add_expectation(
        x.ExpectColumnValuesToBeBetween(
            column="length", min_value=bounds.min_episode_frames, max_value=bounds.max_episode_frames
        )
    )
    episode_suite.add_expectation(x.ExpectColumnValueLengthsToBeBetween(column="instruction", min_value=1))
    for column in episodes.columns:
        if column.startswith("video_frames_"):
            episode_suite.add_expectation(x.ExpectColumnPairValuesToBeEqual(column_A="length", column_B=column))
    return [(frame_suite, frames), (episode_suite, episodes)]


def validate_dataset(root: Path | str, bounds: QualityBounds | None = None) -> QualityReport:
    """Run the quality suite over a LeRobot dataset; the report lists every expectation's outcome."""
    import great_expectations as gx

    dataset = LeRobotSource(root)
    frames, episodes = dataset_tables(dataset)
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # GX's own bars are noise in a pipeline
    suites = _suites(gx, dataset.embodiment, frames, episodes, bounds or QualityBounds())
    source = context.data_sources.add_pandas("pyramid")
    outcomes: list[CheckOutcome] = []
    for suite, table in suites:
        batch = source.add_dataframe_asset(suite.name).add_batch_definition_whole_dataframe("all")
        result = batch.get_batch(batch_parameters={"dataframe": table}).validate(suite)
        for item in result.results:
            kwargs = item.expectation_config.kwargs
            column = kwargs.get("column") or f"{kwargs.get('column_A')} == {kwargs.get('column_B')}"
            outcomes.append(
                CheckOutcome(
                    expectation=item.expectation_config.type,
                    column=column,
                    success=bool(item.success),
                    unexpected=int(item.result.get("unexpected_count") or 0),
                    examples=[str(v) for v in (item.result.get("partial_unexpected_list") or [])[:5]],
                )
            )
    return QualityReport(all(o.success for o in outcomes), outcomes)
