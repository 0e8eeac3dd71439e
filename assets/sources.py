"""Keep the source assets' dynamic partitions in step with the declared sources: the sensor for hand-edited
files, and ``record_ingest`` / ``forget_source`` for the CLI, which registers what it ingests at once."""

import os
import shutil
from typing import TYPE_CHECKING

from dagster import (
    AddDynamicPartitionsRequest,
    AssetMaterialization,
    DagsterInstance,
    MetadataValue,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assets.ingest import QUALITY_CHECK, SOURCE_ASSETS, SOURCE_PARTITIONS, written_metadata
from assets.resources import PyramidHome
from pipelines.ingest.config import SourceConfig
from schemas import settings
from schemas.pyramid import SourceKind

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport
    from pipelines.quality import QualityReport


def new_source_partitions(instance: DagsterInstance, home: PyramidHome) -> dict[SourceKind, list[SourceConfig]]:
    """Declared sources that are not yet partitions, per kind."""
    sources = home.sources()
    new = {}
    for kind, partitions in SOURCE_PARTITIONS.items():
        known = set(instance.get_dynamic_partitions(partitions.name))
        new[kind] = [s for s in sources.of_kind(kind) if s.name not in known]
    return new


@sensor(
    minimum_interval_seconds=30, description="Registers sources added to the sources file and ingests those present"
)
def source_partitions(context: SensorEvaluationContext, home: PyramidHome) -> SensorResult:
    """New sources become partitions; an ingest run is requested for each whose data is already there
    (embedded defaults appear only once their generator asset has run)."""
    new = new_source_partitions(context.instance, home)
    return SensorResult(
        dynamic_partitions_requests=[
            AddDynamicPartitionsRequest(SOURCE_PARTITIONS[kind].name, [s.name for s in sources])
            for kind, sources in new.items()
            if sources
        ],
        run_requests=[
            RunRequest(asset_selection=[SOURCE_ASSETS[kind].key], partition_key=source.name)
            for kind, sources in new.items()
            for source in sources
            if source.path.exists()
        ],
    )


def local_instance() -> DagsterInstance:
    """The pyramid home's Dagster instance (``DAGSTER_HOME``, default ``<home>/dagster``), set up as ``make setup``
    does where it is missing, for commands that run outside Dagster."""
    folder = settings.dagster_home()
    if not (folder / "dagster.yaml").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(settings.REPO_ROOT / "dagster.yaml", folder / "dagster.yaml")
    os.environ.setdefault("DAGSTER_HOME", str(folder))  # dagster.yaml's storage folders are read from it
    return DagsterInstance.from_config(str(folder))


def record_ingest(
    instance: DagsterInstance, kind: SourceKind, source: SourceConfig, report: "WriteReport", quality: "QualityReport"
) -> None:
    """Show an ingest done outside a Dagster run (``pyramid ingest``) in the UI at once: the source's partition and
    its materialization, with the quality suite's outcome in the metadata (a runless asset check cannot be
    recorded twice for one partition)."""
    asset_key, partitions = SOURCE_ASSETS[kind].key, SOURCE_PARTITIONS[kind].name
    if not instance.has_dynamic_partition(partitions, source.name):
        instance.add_dynamic_partitions(partitions, [source.name])
    metadata = {
        **written_metadata(report),
        "ingested_by": "pyramid ingest",
        f"{QUALITY_CHECK}_passed": quality.success,
        f"{QUALITY_CHECK}_results": MetadataValue.md(quality.markdown()),
    }
    instance.report_runless_asset_event(AssetMaterialization(asset_key, partition=source.name, metadata=metadata))


def forget_source(instance: DagsterInstance, kind: SourceKind, name: str) -> None:
    """Remove a source's partition (its materializations stay in the instance's history)."""
    if instance.has_dynamic_partition(SOURCE_PARTITIONS[kind].name, name):
        instance.delete_dynamic_partition(SOURCE_PARTITIONS[kind].name, name)
