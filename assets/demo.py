"""`make demo`: build the pyramid from an empty home at a named scale (`demo_scales.yaml`: quick, full).

Records the embedded data, ingests every declared source, multiplies the embedded demos in simulation, trains
the label models and labels the action-less video, trains the video model and makes neural trajectories,
builds and publishes the pyramid, prints it (hours and weights per layer), pulls the release back and opens it
as a trainer would, then trains the reference policy and evaluates it open and closed loop (and, at full
scale, measures each layer's value). It ends with a table of every step's wall time, saved in the home.

Every step is a run of the real Dagster instance in $DAGSTER_HOME (`make ui` shows them afterwards), executed
in this process so that imports and the local Ray are paid once.
"""

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml
from dagster import AssetKey, DagsterInstance
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from assets.definitions import defs, home, store
from assets.embedded import EMBEDDED_TASKS
from assets.ingest import SOURCE_ASSETS, SOURCE_PARTITIONS
from assets.labels import IDM_EMBODIMENTS
from assets.release import NIGHTLY
from assets.sources import new_source_partitions
from assets.tables import manifest_table
from pipelines.lerobot.reader import LeRobotSource
from pipelines.release.manifest import CHART, load_manifest
from pipelines.release.open import PulledRelease
from pipelines.release.store import pull_release
from pipelines.runtime.atomic import atomic_write_text
from pipelines.runtime.parallel import ray_session
from pipelines.runtime.quiet import quiet_libraries
from schemas.pyramid import SourceKind

SCALES_FILE = Path(__file__).with_name("demo_scales.yaml")


@dataclass(frozen=True)
class Scale:
    """A named preset: run config per asset, and the steps it leaves out."""

    name: str
    run_config: dict[str, dict[str, Any]]
    skip: tuple[str, ...]

    @classmethod
    def load(cls, name: str, path: Path = SCALES_FILE) -> "Scale":
        presets = yaml.safe_load(path.read_text())
        if name not in presets:
            raise SystemExit(f"{path}: no scale {name!r}; the scales are {', '.join(presets)}")
        return cls(name, presets[name].get("run_config") or {}, tuple(presets[name].get("skip") or ()))


@dataclass
class StepTime:
    step: str
    partition: str
    seconds: float


class Demo:
    """Materialises the demo's steps in this process against the real Dagster instance (every run is in the
    UI's history), with one local Ray for all of them; times each step."""

    def __init__(self, scale: Scale, console: Console, instance: DagsterInstance, verbose: bool = False):
        self.scale, self.console, self.instance = scale, console, instance
        self.log_level = "DEBUG" if verbose else "INFO"  # INFO: the assets' own progress lines, not Dagster's events
        self.job = defs.resolve_implicit_global_asset_job_def()
        self.times: list[StepTime] = []

    def materialize(self, assets: list[str], partition: str | None = None) -> None:
        label = ",".join(assets)
        if all(asset in self.scale.skip for asset in assets):
            self.console.print(f"[dim]{label}: left out at the {self.scale.name} scale[/]")
            return
        self.console.rule(escape(f"{label} [{partition}]" if partition else label))
        run_config = {
            "ops": {a: {"config": self.scale.run_config[a]} for a in assets if a in self.scale.run_config},
            "loggers": {"console": {"config": {"log_level": self.log_level}}},
        }
        started = time.monotonic()
        self.job.execute_in_process(
            run_config=run_config,
            instance=self.instance,
            partition_key=partition,
            asset_selection=[AssetKey(asset) for asset in assets],
        )
        self.times.append(StepTime(label, partition or "", time.monotonic() - started))

    def timing_table(self, total: float) -> Table:
        table = Table("step", "partition", "wall time", title=f"make demo SCALE={self.scale.name}")
        for entry in self.times:
            table.add_row(entry.step, entry.partition, _minutes(entry.seconds))
        table.add_row("[bold]total[/]", "", f"[bold]{_minutes(total)}[/]")
        return table


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def run_demo(demo: Demo) -> None:
    """Every stage: record, ingest, simulate, label, generate, release, verify, train and evaluate."""
    for task in EMBEDDED_TASKS.get_partition_keys():
        demo.materialize(["embedded_teleop_demos"], task)
    demo.materialize(["embedded_human_videos"])
    for kind, sources in new_source_partitions(demo.instance, home).items():
        demo.instance.add_dynamic_partitions(SOURCE_PARTITIONS[kind].name, [s.name for s in sources])
    for kind, asset in SOURCE_ASSETS.items():
        for source in home.sources().of_kind(kind):
            demo.materialize([asset.key.to_user_string()], source.name)
    for task in EMBEDDED_TASKS.get_partition_keys():
        demo.materialize(["sim_datasets"], task)
    demo.materialize(["latent_action_model"])
    for embodiment in IDM_EMBODIMENTS.get_partition_keys():
        demo.materialize(["idm_model"], embodiment)
    for source in home.sources().of_kind(SourceKind.HUMAN_VIDEO):
        demo.materialize(["latent_action_labels", "idm_labels"], source.name)
    demo.materialize(["video_model"])
    demo.materialize(["instruction_matcher"])
    demo.materialize(["generated_clips"])
    demo.materialize(["neural_trajectories"])
    demo.materialize(["pyramid", "release"], NIGHTLY.get_last_partition_key())
    manifest = load_manifest(home.home.pyramid)
    demo.console.print(manifest_table(manifest))
    demo.console.print(f"pyramid chart: {home.home.pyramid / CHART}")
    uri = store.uri_for(home)
    demo.console.print(f"published {manifest.version} to {uri}; a trainer pulls it with: pyramid pull {uri} --dest DIR")
    started = time.monotonic()
    verify_release(demo.console, uri, home.home.pulled)
    demo.times.append(StepTime("pull and verify", manifest.version, time.monotonic() - started))
    demo.materialize(["reference_policy"])
    demo.materialize(["layer_value"])
    demo.console.print(f"policy runs: {home.home.policies / manifest.version}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="quick", help=f"a scale of {SCALES_FILE.name} (default quick)")
    parser.add_argument("--verbose", action="store_true", help="also Dagster's own event log lines")
    args = parser.parse_args(argv)
    if not args.verbose:
        quiet_libraries(keep_logs=True)
    console = Console()
    started = time.monotonic()
    with DagsterInstance.get() as instance, ray_session(defs.resources["ray"].config()):
        demo = Demo(Scale.load(args.scale), console, instance, args.verbose)
        try:
            run_demo(demo)
        finally:
            total = time.monotonic() - started
            console.print(demo.timing_table(total))
            timings = home.home.root / "demo" / f"timings-{args.scale}.json"
            record = {"scale": args.scale, "total_seconds": total, "steps": [asdict(t) for t in demo.times]}
            atomic_write_text(timings, json.dumps(record, indent=2))
            console.print(f"step times saved in {timings}")
    return 0


def verify_release(console: Console, uri: str, destination: Path) -> None:
    """Pull the release back as a trainer would (every checksum verified), load every dataset with lerobot's
    ``LeRobotDataset``, export it for GR00T and read the export back with our v2 reader."""
    console.rule("verify the published release")
    release = PulledRelease(pull_release(uri, "latest", destination))
    for name, dataset in release.lerobot_datasets().items():
        console.print(f"{name}: LeRobotDataset loads {dataset.num_episodes} episodes, {len(dataset)} frames")
    with tempfile.TemporaryDirectory(dir=destination) as scratch:
        for name, folder in release.export_groot(scratch).items():
            exported = LeRobotSource(folder)
            console.print(f"{name}: GR00T {exported.version} export reads back, {len(exported)} episodes")


if __name__ == "__main__":
    sys.exit(main())
