"""`make demo`: register every declared source, materialise each through the Dagster CLI, print the pyramid.

Runs against the real Dagster instance in $DAGSTER_HOME, so every run shows up in `make ui` afterwards.
"""

import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance
from rich.console import Console

from assets.definitions import home
from assets.embedded import EMBEDDED_TASKS
from assets.ingest import SOURCE_ASSETS, SOURCE_PARTITIONS
from assets.sources import new_source_partitions
from pipelines.summary import pyramid_table


def main() -> int:
    console = Console()
    dagster = Path(sys.executable).with_name("dagster")
    for task in EMBEDDED_TASKS.get_partition_keys():
        console.rule(f"embedded_teleop_demos [{task}]")
        materialize = [str(dagster), "asset", "materialize", "-m", "assets.definitions",
                       "--select", "embedded_teleop_demos", "--partition", task]  # fmt: skip
        subprocess.run(materialize, check=True)
    console.rule("embedded_human_videos")
    materialize = [
        str(dagster),
        "asset",
        "materialize",
        "-m",
        "assets.definitions",
        "--select",
        "embedded_human_videos",
    ]
    subprocess.run(materialize, check=True)
    with DagsterInstance.get() as instance:
        for kind, sources in new_source_partitions(instance, home).items():
            instance.add_dynamic_partitions(SOURCE_PARTITIONS[kind].name, [s.name for s in sources])
    for kind, asset in SOURCE_ASSETS.items():
        for source in home.sources().of_kind(kind):
            console.rule(f"{asset.key.to_user_string()} [{source.name}]")
            command = [str(dagster), "asset", "materialize", "-m", "assets.definitions",
                       "--select", asset.key.to_user_string(), "--partition", source.name]  # fmt: skip
            subprocess.run(command, check=True)
    console.print(pyramid_table(Path(home.path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
