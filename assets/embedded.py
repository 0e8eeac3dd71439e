"""Embedded default data: scripted-expert robosuite teleop demos, so `make demo` needs no downloads."""

from pathlib import Path

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, StaticPartitionsDefinition, asset

from assets.config import run_config
from assets.resources import PyramidHome, RayResource
from generators.sim.config import EmbeddedDemos, EmbeddedStandIns
from pipelines.runtime.fingerprint import code_version

EMBEDDED_TASKS = StaticPartitionsDefinition(["Lift", "Stack", "PickPlaceCan", "TwoArmLift", "GR1TwoArmLift"])


EmbeddedTeleopConfig = run_config("EmbeddedTeleopConfig", EmbeddedDemos)
EmbeddedHumanVideoConfig = run_config("EmbeddedHumanVideoConfig", EmbeddedStandIns)


def embedded_teleop_path(home: PyramidHome, task: str) -> Path:
    from generators.robosuite_env import ROBOSUITE_TASKS  # robosuite/mujoco load only when run

    return home.home.raw / "teleop" / f"{ROBOSUITE_TASKS[task].dataset_name}.hdf5"


@asset(
    partitions_def=EMBEDDED_TASKS,
    group_name="embedded_defaults",
    code_version=code_version("generators.scripted_teleop"),
    kinds={"robosuite", "hdf5"},
)
def embedded_teleop_demos(
    context: AssetExecutionContext, config: EmbeddedTeleopConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """Scripted-expert demos in robosuite (Panda with one arm or two, GR1 with two arms and hands; the
    embodiment's cameras, 20 Hz) as robomimic HDF5 with datagen_info; attempts run on Ray."""
    from generators.scripted_teleop import ExpertConfig, record_teleop_set  # robosuite/mujoco load only when run

    task = context.partition_key
    path = embedded_teleop_path(home, task)
    path.parent.mkdir(parents=True, exist_ok=True)
    report = record_teleop_set(
        task, config.demos_per_task, path, ExpertConfig(image_size=config.image_size), ray=ray.config()
    )
    context.log.info(f"{task}: {report.demos} demos in {report.attempts} attempts")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(path)),
            "demos": report.demos,
            "attempts": report.attempts,
            "expert_success_rate": MetadataValue.float(round(report.demos / report.attempts, 3)),
            "failed_seeds": MetadataValue.json(report.failed_seeds),
        }
    )


def embedded_human_video_folder(home: PyramidHome) -> Path:
    return home.home.raw / "human_video" / "robosuite_standin"


@asset(
    group_name="embedded_defaults", code_version=code_version("generators.scripted_teleop"), kinds={"robosuite", "mp4"}
)
def embedded_human_videos(
    context: AssetExecutionContext, config: EmbeddedHumanVideoConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """STAND-IN for human video: action-less robosuite clips from the front camera (no teleop dataset uses it)."""
    import shutil

    from generators.scripted_teleop import record_stand_in_videos

    folder = embedded_human_video_folder(home)
    shutil.rmtree(folder, ignore_errors=True)
    paths = record_stand_in_videos(EMBEDDED_TASKS.get_partition_keys(), config.clips_per_task, folder, ray=ray.config())
    context.log.info(f"{len(paths)} stand-in clips in {folder}")
    return MaterializeResult(metadata={"path": MetadataValue.path(str(folder)), "clips": len(paths)})
