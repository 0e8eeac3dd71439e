"""Ingested source datasets: one asset per source kind, one dynamic partition per declared source.

Each materialisation writes a LeRobot v3.0 dataset under the pyramid home, then runs the Great
Expectations quality suite as a blocking check: a dataset that fails it stops everything downstream.
"""

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    AutomationCondition,
    DynamicPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.embedded import embedded_human_videos, embedded_teleop_demos
from assets.resources import PyramidHome, RayResource
from pipelines.ingest.config import SourceConfig
from pipelines.runtime.fingerprint import code_version
from schemas.pyramid import SourceKind

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

SOURCE_PARTITIONS = {
    SourceKind.TELEOP: DynamicPartitionsDefinition(name="teleop_sources"),
    SourceKind.OXE: DynamicPartitionsDefinition(name="oxe_sources"),
    SourceKind.HUMAN_VIDEO: DynamicPartitionsDefinition(name="human_video_sources"),
}
QUALITY_CHECK = "quality"
INGEST_CRON = "0 1 * * *"  # UTC, an hour before the nightly release
NIGHTLY_INGEST = AutomationCondition.cron_tick_passed(INGEST_CRON, "UTC") & ~AutomationCondition.in_progress()


def image_markdown(title: str, png: bytes) -> MetadataValue:
    """A PNG inline in Dagster's metadata view."""
    return MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})")


def ingest_and_check(
    context: AssetExecutionContext,
    source: SourceConfig,
    destination: Path,
    ray: RayResource,
    metadata: dict[str, Any] | None = None,
    embodiments_dir: Path | None = None,
) -> MaterializeResult:
    """Ingest ``source`` into ``destination``, then report it (``metadata`` added) with its blocking GX check;
    ``embodiment: auto`` writes its inferred file to ``embodiments_dir``."""
    from pipelines.ingest.sources import ingest_source  # lerobot (~15 s) loads only when a run needs it

    def log_progress(done: int) -> None:
        if done % 10 == 0:
            context.log.info(f"{source.name}: {done} episodes read")

    report = ingest_source(
        source, destination, log_progress, ray.config(), reuse_unchanged=True, embodiments_dir=embodiments_dir
    )
    done = "unchanged since the last run, kept" if report.reused else "written"
    context.log.info(f"{source.name}: {report.episodes} episodes {done}, {len(report.rejected)} quarantined")
    return dataset_result(report, metadata)


def written_metadata(report: "WriteReport") -> dict[str, Any]:
    """What every materialization of a written dataset says first: where it is and how much it holds."""
    return {
        "path": MetadataValue.path(str(report.root)),
        "episodes": report.episodes,
        "frames": report.frames,
        "hours": MetadataValue.float(round(report.hours, 5)),
        "quarantined": len(report.rejected),
    }


def dataset_result(report: "WriteReport", metadata: dict[str, Any] | None = None) -> MaterializeResult:
    """A written dataset's materialisation: counts, quarantine reasons, sample frames, action histogram, and
    its Great Expectations suite as the blocking quality check."""
    from pipelines.plots import action_histogram_png, sample_frames_png
    from pipelines.quality import validate_dataset  # GX: ~12 s to import, only when a run needs it

    quality = validate_dataset(report.root)
    reasons = "\n".join(f"- `{r.episode_id}` ({r.field}): {r.reason}" for r in report.rejected) or "none"
    metadata = {
        **(metadata or {}),
        **written_metadata(report),
        "reused_unchanged": report.reused,
        "quarantine_reasons": MetadataValue.md(reasons),
        "sample_frames": image_markdown("sample frames", sample_frames_png(report.root)),
    }
    if histogram := action_histogram_png(report.root):
        metadata["action_histogram"] = image_markdown("action histogram", histogram)
    check = AssetCheckResult(
        check_name=QUALITY_CHECK,
        passed=quality.success,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "expectations": len(quality.outcomes),
            "failed": len(quality.failures()),
            "results": MetadataValue.md(quality.markdown()),
        },
    )
    return MaterializeResult(metadata=metadata, check_results=[check])


def quality_check_spec(asset_name: str) -> AssetCheckSpec:
    return AssetCheckSpec(
        QUALITY_CHECK,
        asset=asset_name,
        blocking=True,
        description="GX suite: timestamps k/fps, finite vectors within limits, episode lengths, "
        "non-empty instructions, video frames == data rows",
    )


def _source_asset(
    kind: SourceKind, name: str, description: str, deps: list[AssetDep] | None = None
) -> AssetsDefinition:
    @asset(
        name=name,
        description=description,
        deps=deps,
        partitions_def=SOURCE_PARTITIONS[kind],
        group_name="ingest",
        code_version=code_version("pipelines.ingest.sources", "pipelines.quality"),
        kinds={"lerobot"},
        automation_condition=NIGHTLY_INGEST,  # every partition, nightly; unchanged sources are kept, not redone
        check_specs=[quality_check_spec(name)],
    )
    def source_asset(context: AssetExecutionContext, home: PyramidHome, ray: RayResource) -> MaterializeResult:
        source = home.sources().get(kind, context.partition_key)
        return ingest_and_check(
            context, source, home.home.dataset(kind, source.name), ray, embodiments_dir=home.home.embodiments
        )

    return source_asset


teleop_datasets = _source_asset(
    SourceKind.TELEOP,
    "teleop_datasets",
    "Teleop demos (LeRobot v2.x/v3.0, robomimic HDF5) as LeRobot v3.0, idle lead-in/out trimmed",
    deps=[AssetDep(embedded_teleop_demos, partition_mapping=AllPartitionMapping())],
)
oxe_datasets = _source_asset(
    SourceKind.OXE, "oxe_datasets", "Open X-Embodiment RLDS datasets, standardised, as LeRobot v3.0"
)
human_video_datasets = _source_asset(
    SourceKind.HUMAN_VIDEO,
    "human_video_datasets",
    "Human and web video as curated action-less LeRobot v3.0 clips (short/dark/frozen/duplicate clips dropped)",
    deps=[embedded_human_videos],
)
SOURCE_ASSETS = {
    SourceKind.TELEOP: teleop_datasets,
    SourceKind.OXE: oxe_datasets,
    SourceKind.HUMAN_VIDEO: human_video_datasets,
}
