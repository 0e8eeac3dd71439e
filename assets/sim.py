"""Simulated rollouts: the embedded teleop demos multiplied MimicGen-style in robosuite, one partition per task."""

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.config import run_config
from assets.embedded import EMBEDDED_TASKS, embedded_teleop_demos, embedded_teleop_path
from assets.ingest import ingest_and_check, quality_check_spec
from assets.resources import PyramidHome, RayResource
from generators.sim.config import MimicGenConfig, SimRun
from pipelines.ingest.config import SourceConfig
from pipelines.runtime.fingerprint import code_version
from schemas.options import from_values
from schemas.pyramid import SourceKind

SimConfig = run_config("SimConfig", SimRun, MimicGenConfig)


@asset(
    partitions_def=EMBEDDED_TASKS,
    deps=[embedded_teleop_demos],
    group_name="simulate",
    code_version=code_version("generators.sim.generate", "pipelines.ingest.sources", "pipelines.quality"),
    kinds={"robosuite", "lerobot"},
    check_specs=[quality_check_spec("sim_datasets")],
)
def sim_datasets(
    context: AssetExecutionContext, config: SimConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """MimicGen-style rollouts from the task's embedded source demos, successes kept, as LeRobot v3.0."""
    from generators.robosuite_env import ROBOSUITE_TASKS
    from generators.sim.generate import generate_demos

    task = context.partition_key
    name = ROBOSUITE_TASKS[task].dataset_name
    raw = home.home.raw / "sim" / f"{name}.hdf5"
    raw.parent.mkdir(parents=True, exist_ok=True)
    report = generate_demos(
        task,
        embedded_teleop_path(home, task),
        config.demos_per_task,
        raw,
        config=from_values(MimicGenConfig, config),
        image_size=config.image_size,
        ray=ray.config(),
        on_attempt=lambda attempts, successes: context.log.info(
            f"{task}: {successes} of {attempts} attempts succeeded"
        ),
    )
    source = SourceConfig(
        name=name, path=raw, format="robomimic", embodiment=ROBOSUITE_TASKS[task].embodiment, trim_idle=False
    )
    return ingest_and_check(
        context,
        source,
        home.home.dataset(SourceKind.SIM, name),
        ray,
        metadata={
            "attempts": report.attempts,
            "successes": report.successes,
            "success_rate": MetadataValue.float(round(report.success_rate, 3)),
            "rollouts_per_minute_per_core": MetadataValue.float(round(report.rollouts_per_minute_per_core, 2)),
            "failures": MetadataValue.json(report.failures),
        },
    )
