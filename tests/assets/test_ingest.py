"""Source assets on a real Dagster instance: dynamic partitions, metadata, the blocking GX check."""

import json

import pytest
import yaml
from dagster import DagsterInstance, build_sensor_context, materialize

from assets.definitions import defs
from assets.embedded import embedded_teleop_demos
from assets.ingest import SOURCE_PARTITIONS, oxe_datasets, teleop_datasets
from assets.resources import PyramidHome, RayResource
from assets.sources import source_partitions
from pipelines.lerobot.writer import LeRobotWriter
from schemas.embodiment import get_embodiment
from schemas.pyramid import SourceKind
from tests.conftest import BRIDGE_SHARD, GR00T_DEMO

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

IN_PROCESS = RayResource(workers=0)  # Ray itself is tested in tests/pipelines/runtime/test_parallel.py


def home_with(tmp_path, teleop: dict[str, str] | None = None, oxe: dict[str, str] | None = None) -> PyramidHome:
    document = {
        "teleop": [{"name": n, "path": p, "format": "lerobot"} for n, p in (teleop or {}).items()],
        "oxe": [{"name": n, "path": p, "format": "rlds"} for n, p in (oxe or {}).items()],
    }
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump(document))
    return PyramidHome(path=str(tmp_path / "home"), sources_file=str(tmp_path / "sources.yaml"))


def run(asset, home: PyramidHome, kind: SourceKind, key: str, expect_success: bool = True):
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SOURCE_PARTITIONS[kind].name, [key])
    result = materialize(
        [asset], resources={"home": home, "ray": IN_PROCESS}, partition_key=key, instance=instance, raise_on_error=False
    )
    assert result.success is expect_success  # a failed blocking check fails the run
    (materialization,) = result.asset_materializations_for_node(asset.key.to_user_string())
    (check,) = result.get_asset_check_evaluations()
    return {k: v.value for k, v in materialization.metadata.items()}, check


def test_definitions_hold_every_ingest_asset_and_the_source_sensor():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys >= {
        "embedded_teleop_demos",
        "embedded_human_videos",
        "teleop_datasets",
        "oxe_datasets",
        "human_video_datasets",
    }
    assert [s.name for s in defs.sensors] == ["source_partitions"]


def test_teleop_asset_ingests_the_gr00t_demo_and_passes_quality(tmp_path):
    home = home_with(tmp_path, teleop={"gr00t": str(GR00T_DEMO)})
    metadata, check = run(teleop_datasets, home, SourceKind.TELEOP, "gr00t")
    assert (metadata["episodes"], metadata["frames"], metadata["quarantined"]) == (5, 2096, 0)
    assert metadata["hours"] == round(2096 / 20 / 3600, 5)
    assert (
        "data:image/png;base64," in metadata["sample_frames"]
        and "data:image/png;base64," in metadata["action_histogram"]
    )
    assert check.passed and check.metadata["expectations"].value > 100 and check.metadata["failed"].value == 0
    info = json.loads((tmp_path / "home/datasets/teleop/gr00t/meta/info.json").read_text())
    assert info["total_episodes"] == 5


def test_oxe_asset_ingests_the_bridge_shard(tmp_path):
    home = home_with(tmp_path, oxe={"bridge": str(BRIDGE_SHARD)})
    metadata, check = run(oxe_datasets, home, SourceKind.OXE, "bridge")
    assert (metadata["episodes"], metadata["frames"]) == (25, 225) and check.passed


def test_quality_check_fails_and_names_the_column_when_actions_leave_their_limits(tmp_path, make_episode):
    episodes = [make_episode(index=i) for i in range(2)]  # random normal actions: gripper outside [0, 1]
    LeRobotWriter(tmp_path / "raw", get_embodiment("robosuite_panda"), 20).write_all(episodes)
    home = home_with(tmp_path, teleop={"wild": str(tmp_path / "raw")})
    _, check = run(teleop_datasets, home, SourceKind.TELEOP, "wild", expect_success=False)
    assert not check.passed and check.severity.value == "ERROR"
    assert (
        check.metadata["failed"].value >= 1
        and "FAIL | expect_column_values_to_be_between | `action_6`" in check.metadata["results"].value
    )


def test_sensor_registers_new_sources_and_requests_ingest_of_those_present(tmp_path):
    home = home_with(
        tmp_path,
        teleop={"gr00t": str(GR00T_DEMO), "later": str(tmp_path / "not_recorded_yet")},
        oxe={"bridge": str(BRIDGE_SHARD)},
    )
    with DagsterInstance.ephemeral() as instance:
        result = source_partitions(build_sensor_context(instance=instance, resources={"home": home, "ray": IN_PROCESS}))
        assert {(r.partitions_def_name, tuple(r.partition_keys)) for r in result.dynamic_partitions_requests} == {
            ("teleop_sources", ("gr00t", "later")),
            ("oxe_sources", ("bridge",)),
        }
        assert sorted(r.partition_key for r in result.run_requests) == ["bridge", "gr00t"]
        instance.add_dynamic_partitions("teleop_sources", ["gr00t", "later"])
        again = source_partitions(build_sensor_context(instance=instance, resources={"home": home, "ray": IN_PROCESS}))
        assert [r.partition_key for r in again.run_requests] == ["bridge"]


def test_embedded_demos_are_recorded_then_ingested_from_the_home(tmp_path):
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        'teleop:\n  - {name: lift, path: "{home}/raw/teleop/panda_lift.hdf5", format: robomimic, embodiment: robosuite_panda}\n'
    )
    home = PyramidHome(path=str(tmp_path / "home"), sources_file=str(sources))
    instance = DagsterInstance.ephemeral()
    recorded = materialize(
        [embedded_teleop_demos],
        resources={"home": home, "ray": IN_PROCESS},
        partition_key="Lift",
        instance=instance,
        run_config={"ops": {"embedded_teleop_demos": {"config": {"demos_per_task": 1, "image_size": 32}}}},
    )
    (materialization,) = recorded.asset_materializations_for_node("embedded_teleop_demos")
    assert materialization.metadata["demos"].value == 1 and materialization.metadata["expert_success_rate"].value == 1.0
    instance.add_dynamic_partitions("teleop_sources", ["lift"])
    ingested = materialize(
        [teleop_datasets], resources={"home": home, "ray": IN_PROCESS}, partition_key="lift", instance=instance
    )
    (materialization,) = ingested.asset_materializations_for_node("teleop_datasets")
    assert materialization.metadata["episodes"].value == 1 and ingested.get_asset_check_evaluations()[0].passed
