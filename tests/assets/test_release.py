"""The pyramid and release assets on a real Dagster instance: publishing, blocking checks, reuse, the nightly
schedule, the nightly ingest automation and the drop-folder sensor."""

import datetime
import shutil

import numpy as np
import pytest
import yaml
from dagster import (
    DagsterInstance,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
    materialize,
)

from assets.definitions import defs
from assets.ingest import SOURCE_PARTITIONS, teleop_datasets
from assets.release import nightly_release_schedule, pyramid, release
from assets.resources import PyramidHome, RayResource, ReleaseStoreResource
from assets.sources import source_partitions
from pipelines.lerobot.writer import write_dataset
from pipelines.release.store import ReleaseStore
from schemas.embodiment import get_embodiment
from tests.conftest import GR00T_DEMO, build_episode
from tests.pipelines.release.conftest import write_home

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

IN_PROCESS = RayResource(workers=0)


def pyramid_home(tmp_path) -> PyramidHome:
    (tmp_path / "sources.yaml").write_text(yaml.safe_dump({"teleop": [], "oxe": [], "human_video": []}))
    write_home(tmp_path / "home", build_episode)
    return PyramidHome(path=str(tmp_path / "home"), sources_file=str(tmp_path / "sources.yaml"))


def publish(home: PyramidHome, instance: DagsterInstance, partition: str = "2026-11-20"):
    resources = {"home": home, "ray": IN_PROCESS, "store": ReleaseStoreResource()}
    return materialize(
        [pyramid, release], resources=resources, partition_key=partition, instance=instance, raise_on_error=False
    )


def metadata(result, node: str) -> dict:
    (materialization,) = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in materialization.metadata.items()}


def test_definitions_hold_the_pyramid_release_and_nightly_schedule():
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"pyramid", "release"} <= keys
    assert defs.resolve_schedule_def("nightly_release").cron_schedule == "0 2 * * *"


def test_pyramid_is_published_and_an_unchanged_rerun_reuses_everything(tmp_path):
    home = pyramid_home(tmp_path)
    with DagsterInstance.ephemeral() as instance:
        first = publish(home, instance)
        assert first.success and all(check.passed for check in first.get_asset_check_evaluations())
        built, published = metadata(first, "pyramid"), metadata(first, "release")
        assert built["rebuilt"] == ["human_video__human_video", "oxe__widowx", "teleop__robosuite_panda"]
        assert published["newly_published"] and published["version"] == built["version"]
        assert built["hours_real_robot"] > 0 and "data:image/png;base64," in built["pyramid_chart"]
        again = publish(home, instance, "2026-11-19")
        assert metadata(again, "pyramid")["rebuilt"] == [] and not metadata(again, "release")["newly_published"]
    assert ReleaseStore(tmp_path / "home/store").versions() == [built["version"]]


def test_a_failed_gx_check_stops_the_release(tmp_path):
    home = pyramid_home(tmp_path)
    bad = build_episode(40, 20)
    bad.action = np.full_like(bad.action, 5.0)  # far outside the Panda's [-1, 1] OSC range
    write_dataset(tmp_path / "home/datasets/teleop/bad_teleop", get_embodiment("robosuite_panda"), 20, [bad])
    with DagsterInstance.ephemeral() as instance:
        result = publish(home, instance)
        (check,) = result.get_asset_check_evaluations()
        assert not result.success and not check.passed
        assert check.metadata["failed"].value == ["teleop__robosuite_panda: quality"]
        assert result.asset_materializations_for_node("release") == []
    assert ReleaseStore(tmp_path / "home/store").versions() == []


def test_the_nightly_schedule_builds_the_previous_days_partition():
    context = build_schedule_context(
        scheduled_execution_time=datetime.datetime(2026, 11, 21, 2, 0, tzinfo=datetime.UTC)
    )
    (request,) = nightly_release_schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-20"


def test_ingest_partitions_refresh_on_the_nightly_cron():
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(SOURCE_PARTITIONS["teleop"].name, ["lift", "gr00t"])
        day = datetime.datetime(2026, 11, 21, 0, 30, tzinfo=datetime.UTC)
        before = evaluate_automation_conditions(defs=defs, instance=instance, evaluation_time=day)
        assert before.total_requested == 0
        after = evaluate_automation_conditions(
            defs=defs,
            instance=instance,
            cursor=before.cursor,
            evaluation_time=day + datetime.timedelta(hours=1),
        )
        assert after.total_requested == 2


def test_the_sensor_registers_and_ingests_what_is_dropped_in_the_drop_folder(tmp_path):
    home = pyramid_home(tmp_path)
    shutil.copytree(GR00T_DEMO, tmp_path / "home/drop/teleop/kitchen_demos")
    (tmp_path / "home/drop/human_video/street_clips").mkdir(parents=True)
    (tmp_path / "home/drop/teleop/.copying_in_progress").mkdir()
    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance, resources={"home": home, "ray": IN_PROCESS})
        result = source_partitions(context)
        assert {(r.partitions_def_name, tuple(r.partition_keys)) for r in result.dynamic_partitions_requests} == {
            ("teleop_sources", ("drop_kitchen_demos",)),
            ("human_video_sources", ("drop_street_clips",)),
        }
        assert sorted(r.partition_key for r in result.run_requests) == ["drop_kitchen_demos", "drop_street_clips"]
        instance.add_dynamic_partitions("teleop_sources", ["drop_kitchen_demos"])
        ingested = materialize(
            [teleop_datasets],
            resources={"home": home, "ray": IN_PROCESS},
            partition_key="drop_kitchen_demos",
            instance=instance,
        )
        assert metadata(ingested, "teleop_datasets")["episodes"] == 5
        again = materialize(
            [teleop_datasets],
            resources={"home": home, "ray": IN_PROCESS},
            partition_key="drop_kitchen_demos",
            instance=instance,
        )
        assert metadata(again, "teleop_datasets")["reused_unchanged"] is True
