"""Teleop demos as LeRobot v3.0 datasets, one partition per declared source."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, StaticPartitionsDefinition, asset

from assets.resources import PyramidHome
from pipelines.config import load_sources
from schemas.embodiment import get_embodiment
from schemas.pyramid import SourceKind

teleop_partitions = StaticPartitionsDefinition([s.name for s in load_sources().of_kind(SourceKind.TELEOP)])


@asset(partitions_def=teleop_partitions, group_name="ingest", code_version="1", kinds={"lerobot"})
def teleop_datasets(context: AssetExecutionContext, home: PyramidHome) -> MaterializeResult:
    """A teleop source converted to a validated LeRobot v3.0 dataset; bad episodes are quarantined."""
    from pipelines.lerobot.convert import convert_lerobot  # imports lerobot (~15 s): only when it runs

    source = home.sources().get(SourceKind.TELEOP, context.partition_key)
    embodiment = get_embodiment(source.embodiment) if source.embodiment else None

    def log_progress(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            context.log.info(f"{source.name}: {done}/{total} episodes")

    report = convert_lerobot(
        source.path, home.dataset_dir(SourceKind.TELEOP, source.name), embodiment=embodiment, on_episode=log_progress
    )
    quarantined = "\n".join(f"- `{r.episode_id}` ({r.field}): {r.reason}" for r in report.rejected) or "none"
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(report.root)),
            "episodes": report.episodes,
            "frames": report.frames,
            "hours": MetadataValue.float(round(report.hours, 4)),
            "quarantined": len(report.rejected),
            "quarantine_reasons": MetadataValue.md(quarantined),
        }
    )
