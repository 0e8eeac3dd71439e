"""The ``pyramid`` command line. Subcommands import their heavy modules only when they run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from pipelines.config import DEFAULT_HOME
from schemas.embodiment import get_embodiment, registered_embodiments

console = Console()


def cmd_embodiments(args: argparse.Namespace) -> int:
    if args.modality:
        print(json.dumps(get_embodiment(args.modality).to_modality(), indent=4))
        return 0
    table = Table("name", "tag", "robot", "cameras", "fps", "control", "state", "action", title="Embodiments")
    for e in registered_embodiments().values():
        table.add_row(
            e.name,
            e.tag,
            e.robot_type,
            ",".join(e.cameras),
            str(e.fps),
            e.control_mode.value,
            str(e.state_dim),
            str(e.action_dim),
        )
    console.print(table)
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipelines.lerobot.convert import convert_lerobot
    from pipelines.lerobot.video import VideoCodec
    from pipelines.lerobot.writer import WriterConfig

    config = WriterConfig(video=VideoCodec(codec=args.codec, crf=args.crf), continue_on_invalid=not args.strict)
    embodiment = get_embodiment(args.embodiment) if args.embodiment else None
    with tqdm(desc=f"convert {Path(args.source).name}", unit="episode") as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = convert_lerobot(
            args.source, args.destination, embodiment=embodiment, config=config, on_episode=progress
        )
    console.print(f"wrote {report.episodes} episodes, {report.frames} frames ({report.hours:.3f} h) to {report.root}")
    for rejected in report.rejected:
        console.print(f"[yellow]quarantined[/] {rejected.episode_id} ({rejected.field}): {rejected.reason}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from pipelines.summary import pyramid_table

    console.print(pyramid_table(Path(os.environ.get("PYRAMID_HOME", str(DEFAULT_HOME)))))
    return 0


def cmd_export_groot(args: argparse.Namespace) -> int:
    from pipelines.lerobot.groot_export import export_groot

    console.print(f"GR00T v2.1 export written to {export_groot(args.source, args.destination)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyramid", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("embodiments", help="list registered embodiments, or print one's modality.json")
    p.add_argument("--modality", metavar="NAME", help="print the GR00T modality.json of this embodiment")
    p.set_defaults(run=cmd_embodiments)

    p = sub.add_parser("convert", help="convert a LeRobot v2.x/v3.0 dataset into a pyramid LeRobot v3.0 dataset")
    p.add_argument("source", help="dataset folder (holding meta/info.json)")
    p.add_argument("destination", help="output folder (replaced atomically)")
    p.add_argument("--embodiment", help="registered embodiment; default: from the dataset's metadata")
    p.add_argument("--codec", choices=["h264", "av1"], default="h264", help="video codec (default h264)")
    p.add_argument("--crf", type=int, default=None, help="video quality; default 20 (h264) / 30 (av1)")
    p.add_argument("--strict", action="store_true", help="fail on the first bad episode instead of quarantining it")
    p.set_defaults(run=cmd_convert)

    p = sub.add_parser("export-groot", help="export a pyramid v3.0 dataset to GR00T's LeRobot v2.1 layout")
    p.add_argument("source")
    p.add_argument("destination")
    p.set_defaults(run=cmd_export_groot)

    p = sub.add_parser("status", help="print the datasets materialised in the pyramid home")
    p.set_defaults(run=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
