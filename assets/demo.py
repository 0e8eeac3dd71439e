"""`make demo`: record the embedded data, ingest every declared source, multiply the embedded demos in
simulation, train the label models and label the action-less video, build and publish the pyramid, all
through the Dagster CLI; print the pyramid (hours per layer) and where its chart is; pull the release back and
open it as a trainer would; then train the reference policy on it, evaluate it open and closed loop, and
measure each layer's value.

Runs against the real Dagster instance in $DAGSTER_HOME, so every run shows up in `make ui` afterwards.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from dagster import DagsterInstance
from rich.console import Console

from assets.definitions import home, store
from assets.embedded import EMBEDDED_TASKS
from assets.ingest import SOURCE_ASSETS, SOURCE_PARTITIONS
from assets.labels import IDM_EMBODIMENTS
from assets.release import NIGHTLY
from assets.sources import new_source_partitions
from pipelines.lerobot.reader import LeRobotSource
from pipelines.release.manifest import CHART, load_manifest
from pipelines.release.open import PulledRelease
from pipelines.release.store import pull_release
from pipelines.summary import manifest_table
from schemas.pyramid import SourceKind


def materialize(console: Console, selection: str, partition: str | None = None) -> None:
    """One materialisation through the real Dagster CLI (so it shows in the UI's run history)."""
    console.rule(f"{selection} [{partition}]" if partition else selection)
    command = [
        str(Path(sys.executable).with_name("dagster")),
        "asset",
        "materialize",
        "-m",
        "assets.definitions",
        "--select",
        selection,
        *(["--partition", partition] if partition else []),
    ]
    subprocess.run(command, check=True)


def main() -> int:
    console = Console()
    for task in EMBEDDED_TASKS.get_partition_keys():
        materialize(console, "embedded_teleop_demos", task)
    materialize(console, "embedded_human_videos")
    with DagsterInstance.get() as instance:
        for kind, sources in new_source_partitions(instance, home).items():
            instance.add_dynamic_partitions(SOURCE_PARTITIONS[kind].name, [s.name for s in sources])
    for kind, asset in SOURCE_ASSETS.items():
        for source in home.sources().of_kind(kind):
            materialize(console, asset.key.to_user_string(), source.name)
    for task in EMBEDDED_TASKS.get_partition_keys():
        materialize(console, "sim_datasets", task)
    materialize(console, "latent_action_model")
    for embodiment in IDM_EMBODIMENTS.get_partition_keys():
        materialize(console, "idm_model", embodiment)
    for source in home.sources().of_kind(SourceKind.HUMAN_VIDEO):
        materialize(console, "latent_action_labels,idm_labels", source.name)
    materialize(console, "video_model")
    materialize(console, "generated_clips")
    materialize(console, "neural_trajectories")
    materialize(console, "pyramid,release", NIGHTLY.get_last_partition_key())
    manifest = load_manifest(home.home.pyramid)
    console.print(manifest_table(manifest))
    console.print(f"pyramid chart: {home.home.pyramid / CHART}")
    uri = store.uri_for(home)
    console.print(f"published {manifest.version} to {uri}; a trainer pulls it with: pyramid pull {uri} --dest DIR")
    verify_release(console, uri, home.home.pulled)
    materialize(console, "reference_policy")
    materialize(console, "layer_value")
    console.print(f"policy runs and the layer-value table: {home.home.policies / manifest.version}")
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
