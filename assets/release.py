"""The pyramid and its nightly releases.

``pyramid`` merges every ingested dataset per (source, embodiment), checks each with the GX suite
(blocking: a failed check stops the release) and writes the manifest. ``release`` publishes it, one
daily partition per nightly build, to the release store. Ingest partitions refresh on a nightly cron
(declarative automation); unchanged inputs are kept rather than recomputed at every stage.
"""

from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    AssetSelection,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
)

from assets.ingest import SOURCE_ASSETS, image_markdown
from assets.labels import idm_labels, latent_action_labels
from assets.neural import neural_trajectories
from assets.resources import PyramidHome, ReleaseStoreResource
from assets.sim import sim_datasets
from pipelines.runtime.fingerprint import code_version

NIGHTLY_HOUR = 2  # UTC; ingest refreshes an hour earlier (see assets.ingest)
NIGHTLY = DailyPartitionsDefinition(start_date="2026-11-01", timezone="UTC")
CHECKS = "dataset_checks"


@asset(
    group_name="pyramid",
    deps=[
        *(
            AssetDep(upstream, partition_mapping=AllPartitionMapping())
            for upstream in (*SOURCE_ASSETS.values(), sim_datasets, latent_action_labels, idm_labels)
        ),
        neural_trajectories,
    ],
    kinds={"lerobot"},
    code_version=code_version("pipelines.release.build"),
    check_specs=[
        AssetCheckSpec(CHECKS, asset="pyramid", blocking=True, description="every merged dataset passed its GX suite")
    ],
    description="Every ingested dataset merged per (source, embodiment), checked, weighted, with its manifest",
)
def pyramid(context: AssetExecutionContext, home: PyramidHome) -> MaterializeResult:
    from pipelines.release.build import build_pyramid  # lerobot and GX load only when a run needs them
    from pipelines.release.manifest import CHART

    build = build_pyramid(home.home, log=context.log.info)
    manifest = build.manifest
    rows = "\n".join(
        f"| {e.layer.value} | {e.dataset} | {e.embodiment} | {e.episodes} | {e.hours:.4f} | {e.mixture_weight:.3f} "
        f"| {e.quarantined} | {', '.join(k for k, ok in e.checks.items() if not ok) or 'passed'} |"
        for e in manifest.datasets
    )
    table = "| layer | dataset | embodiment | episodes | hours | weight | quarantined | checks |\n" + "|---" * 8 + "|\n"
    failed = [f"{e.dataset}: {name}" for e in manifest.datasets for name, ok in e.checks.items() if not ok]
    return MaterializeResult(
        metadata={
            "version": manifest.version,
            "path": MetadataValue.path(str(build.folder)),
            "rebuilt": MetadataValue.json(build.rebuilt),
            "reused_unchanged": MetadataValue.json(build.reused),
            **{f"hours_{layer.value}": round(hours, 5) for layer, hours in manifest.hours_per_layer().items()},
            "datasets": MetadataValue.md(table + rows),
            "pyramid_chart": image_markdown("pyramid", (build.folder / CHART).read_bytes()),
        },
        check_results=[
            AssetCheckResult(
                check_name=CHECKS,
                passed=not failed,
                severity=AssetCheckSeverity.ERROR,
                metadata={"failed": MetadataValue.json(failed)},
            )
        ],
    )


@asset(
    group_name="pyramid",
    deps=[pyramid],
    partitions_def=NIGHTLY,
    kinds={"fsspec"},
    code_version=code_version("pipelines.release.store", "pipelines.release.open"),
    description="The pyramid published as an immutable, versioned release (one per nightly build)",
)
def release(context: AssetExecutionContext, home: PyramidHome, store: ReleaseStoreResource) -> MaterializeResult:
    from pipelines.release.manifest import load_manifest
    from pipelines.release.store import ReleaseStore

    releases = ReleaseStore(store.uri_for(home))
    already = set(releases.versions())
    version = releases.publish(home.home.pyramid, log=context.log.info)
    deleted = releases.apply_retention(store.keep) if store.keep else []
    garbage = releases.collect_garbage() if deleted else None
    if garbage is not None:
        context.log.info(garbage.line())
    manifest = load_manifest(home.home.pyramid)
    return MaterializeResult(
        metadata={
            "version": version,
            "uri": releases.uri,
            "newly_published": version not in already,
            "deleted_by_retention": MetadataValue.json(deleted),
            "objects_freed": len(garbage.deleted) if garbage else 0,
            "hours": round(sum(e.hours for e in manifest.datasets), 5),
        }
    )


nightly_release_job = define_asset_job(
    "nightly_release", selection=AssetSelection.assets(pyramid, release), partitions_def=NIGHTLY
)
nightly_release_schedule = build_schedule_from_partitioned_job(
    nightly_release_job,
    name="nightly_release",
    hour_of_day=NIGHTLY_HOUR,
    minute_of_hour=0,
    description="Builds and publishes the previous day's partition every night; unchanged inputs and code are reused",
)
