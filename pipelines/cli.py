"""The ``pyramid`` command line. Subcommands import their heavy modules only when they run."""

from __future__ import annotations

import argparse
import json
import os
import signal
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
    from pipelines.release.manifest import MANIFEST
    from pipelines.release.open import PulledRelease

    if (Path(args.source) / MANIFEST).is_file():  # a pulled release or a built pyramid: every dataset
        for name, folder in PulledRelease(args.source).export_groot(args.destination).items():
            console.print(f"{name}: GR00T v2.1 export written to {folder}")
    else:
        console.print(f"GR00T v2.1 export written to {export_groot(args.source, args.destination)}")
    return 0


def _home() -> Path:
    return Path(os.environ.get("PYRAMID_HOME", str(DEFAULT_HOME)))


def cmd_build(args: argparse.Namespace) -> int:
    from pipelines.release.build import build_pyramid

    build = build_pyramid(_home(), log=console.print)
    table = Table(
        "dataset", "layer", "embodiment", "episodes", "hours", "weight", "checks", title=build.manifest.version
    )
    for e in build.manifest.datasets:
        checks = ", ".join(f"{k}: {'ok' if v else 'FAILED'}" for k, v in e.checks.items())
        table.add_row(e.dataset, e.layer.value, e.embodiment, str(e.episodes), f"{e.hours:.4f}",
                      f"{e.mixture_weight:.3f}", checks)  # fmt: skip
    console.print(table)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from pipelines.release.store import ReleaseStore

    store = ReleaseStore(args.store)
    store.publish(_home() / "pyramid", log=console.print)
    if args.keep:
        for version in store.apply_retention(args.keep):
            console.print(f"retention: deleted {version}")
    return 0


def cmd_releases(args: argparse.Namespace) -> int:
    from pipelines.release.store import ReleaseStore

    store = ReleaseStore(args.store)
    latest = store.latest()
    table = Table("version", "datasets", "hours", "created", title=f"releases at {args.store}")
    for version in store.versions():
        manifest = store.manifest(version)
        hours = sum(e.hours for e in manifest.datasets)
        marker = " (latest)" if version == latest else ""
        table.add_row(version + marker, str(len(manifest.datasets)), f"{hours:.4f}", manifest.created)
    console.print(table)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from pipelines.release.store import ReleaseStore

    for line in ReleaseStore(args.store).diff(args.old, args.new).lines():
        console.print(line)
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipelines.release.store import pull_release

    with tqdm(desc=f"pull {args.version}", unit="file") as bar:
        folder = pull_release(
            args.uri,
            args.version,
            args.dest,
            layers=args.layers,
            embodiments=args.embodiments,
            workers=args.workers,
            on_file=lambda relative: bar.update(1),
        )
    console.print(f"pulled and verified {folder}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipelines.plots import policy_training_png
    from pipelines.release.store import pull_release
    from pipelines.training import TrainConfig
    from policy.config import PolicyConfig
    from policy.train import train_reference_policy

    release = pull_release(args.store, args.release, _home() / "pulled")
    out = Path(args.out) if args.out else _home() / "policies" / release.name / "all"

    def phase(steps: int) -> TrainConfig:
        return TrainConfig(steps=steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                           warmup=min(100, steps // 10), seed=args.seed, device=args.device)  # fmt: skip

    with tqdm(total=args.steps + args.post_train_steps, desc=f"train on {release.name}", unit="step") as bar:
        done = {"pretrain": 0, "post_train": 0}

        def progress(name: str, entry: dict[str, float]) -> None:
            done[name] = int(entry["step"])
            bar.update(sum(done.values()) - bar.n)
            bar.set_postfix(phase=name, loss=f"{entry['loss']:.4f}")

        runs = train_reference_policy(release, out, PolicyConfig(hidden=args.hidden), phase(args.steps),
                                      phase(args.post_train_steps) if args.post_train_steps else None,
                                      set(args.target), log=bar.write, on_log=progress)  # fmt: skip
    (out / "loss.png").write_bytes(policy_training_png(f"reference policy on {release.name}", {"loss": runs.history()}))
    console.print(f"policy {runs.served.sha256[:12]} in {runs.served.folder} (loss curve: {out / 'loss.png'})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from policy.inference import ReferencePolicy
    from policy.server import PolicyServer

    server = PolicyServer(ReferencePolicy(args.policy, device=args.device), args.host, args.port)
    console.print(f"serving {args.policy} on tcp://{args.host}:{server.port} (Ctrl-C stops)")
    # a service manager's stop (SIGTERM) ends the loop cleanly, even where the parent left SIGTERM blocked
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from policy.evaluate import closed_loop
    from policy.inference import ReferencePolicy

    policy = ReferencePolicy(args.policy)
    table = Table("task", "episodes", "successes", "success rate", title=f"closed loop, policy {policy.sha256[:12]}")
    for task in args.tasks:
        with tqdm(total=args.episodes, desc=task, unit="episode") as bar:
            result = closed_loop(policy, task, args.episodes, max_steps=args.max_steps, on_episode=lambda i, ok: bar.update(1))
        table.add_row(task, str(args.episodes), str(sum(result.successes)), f"{result.success_rate:.2f}")
    console.print(table)
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

    store_help = "release store URI (any fsspec URI; default $PYRAMID_STORE or <home>/store)"
    default_store = os.environ.get("PYRAMID_STORE") or str(_home() / "store")

    p = sub.add_parser("build", help="(re)build <home>/pyramid: merge, check, weight and manifest every dataset")
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("publish", help="publish <home>/pyramid as an immutable release")
    p.add_argument("--store", default=default_store, help=store_help)
    p.add_argument("--keep", type=int, default=0, help="then keep only the N newest releases (0: keep all)")
    p.set_defaults(run=cmd_publish)

    p = sub.add_parser("releases", help="list published releases")
    p.add_argument("--store", default=default_store, help=store_help)
    p.set_defaults(run=cmd_releases)

    p = sub.add_parser("diff", help="episodes added/removed and hours per layer between two releases")
    p.add_argument("old")
    p.add_argument("new")
    p.add_argument("--store", default=default_store, help=store_help)
    p.set_defaults(run=cmd_diff)

    p = sub.add_parser("pull", help="download and verify a release (resumable, parallel)")
    p.add_argument("uri", help="release store URI, e.g. s3://bucket/pyramid or a local folder")
    p.add_argument("--version", default="latest", help="a version id, or latest")
    p.add_argument("--dest", required=True, help="folder to pull into (the release lands in DEST/<version>)")
    p.add_argument("--layers", nargs="+", help="only these layers (real_robot, synthetic, human_web)")
    p.add_argument("--embodiments", nargs="+", help="only these embodiments")
    p.add_argument("--workers", type=int, default=8, help="parallel downloads")
    p.set_defaults(run=cmd_pull)

    p = sub.add_parser("train", help="train the reference policy on a published release (resumes an unfinished run)")
    p.add_argument("--release", default="latest", help="a version id, or latest")
    p.add_argument("--store", default=default_store, help=store_help)
    p.add_argument("--out", help="run folder (default <home>/policies/<version>)")
    p.add_argument("--steps", type=int, default=500, help="pre-training steps on the release's mixture")
    p.add_argument("--post-train-steps", type=int, default=2000, help="then steps on the target's data (0: none)")
    p.add_argument("--target", nargs="+", default=["robosuite_panda"], help="embodiments to post-train on")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--learning-rate", type=float, default=3e-4)
    p.add_argument("--hidden", type=int, default=96, help="token width (the CPU reference size is 96)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("serve", help="serve a trained policy over ZeroMQ + msgpack")
    p.add_argument("--policy", required=True, help="a run folder pyramid train printed")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5555)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("eval", help="closed-loop success of a trained policy in robosuite")
    p.add_argument("--policy", required=True, help="a run folder pyramid train printed")
    p.add_argument("--tasks", nargs="+", default=["Lift"], help="robosuite Panda tasks (Lift, Stack, PickPlaceCan)")
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--max-steps", type=int, default=250)
    p.set_defaults(run=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
