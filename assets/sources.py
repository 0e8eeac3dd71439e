"""Keep the source assets' dynamic partitions in step with the sources file."""

from dagster import (
    AddDynamicPartitionsRequest,
    DagsterInstance,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from assets.ingest import SOURCE_ASSETS, SOURCE_PARTITIONS
from assets.resources import PyramidHome
from pipelines.config import SourceConfig
from schemas.pyramid import SourceKind


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
