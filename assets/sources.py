"""Keep the source assets' dynamic partitions in step with the sources file."""

from dagster import AddDynamicPartitionsRequest, DagsterInstance, RunRequest, SensorEvaluationContext, SensorResult, sensor

from assets.ingest import SOURCE_ASSETS, SOURCE_PARTITIONS
from assets.resources import PyramidHome
from schemas.pyramid import SourceKind


def new_source_partitions(instance: DagsterInstance, home: PyramidHome) -> dict[SourceKind, list[str]]:
    """Declared sources that are not yet partitions, per kind."""
    sources = home.sources()
    new = {}
    for kind, partitions in SOURCE_PARTITIONS.items():
        known = set(instance.get_dynamic_partitions(partitions.name))
        new[kind] = [s.name for s in sources.of_kind(kind) if s.name not in known]
    return new


@sensor(minimum_interval_seconds=30, description="Registers sources added to the sources file and ingests them")
def source_partitions(context: SensorEvaluationContext, home: PyramidHome) -> SensorResult:
    new = new_source_partitions(context.instance, home)
    return SensorResult(
        dynamic_partitions_requests=[
            AddDynamicPartitionsRequest(SOURCE_PARTITIONS[kind].name, keys) for kind, keys in new.items() if keys
        ],
        run_requests=[
            RunRequest(asset_selection=[SOURCE_ASSETS[kind].key], partition_key=key) for kind, keys in new.items() for key in keys
        ],
    )
