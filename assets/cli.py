"""The ``pyramid`` command line. Subcommands import their heavy modules only when they run.

Quiet by default: one progress bar and a summary per command; library logs and warnings appear with
``--verbose``, tracebacks with ``--debug``. Exit status: 0 done, 1 internal error, 2 bad usage, 3 bad input (the
message says what to fix), 4 done but episodes were quarantined (``--allow-quarantine`` accepts that).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipelines.ingest.config import AUTO, SourceConfig
from pipelines.runtime.quiet import quiet_libraries
from policy.config import ClosedLoopSettings, PolicyConfig, ServerLimits, TrainingRecipe
from schemas import settings
from schemas.embodiment import (
    BUILTIN_DIR,
    embodiment_origin,
    embodiment_yaml,
    get_embodiment,
    registered_embodiments,
    reload_embodiments,
)
from schemas.errors import InputError
from schemas.home import Home
from schemas.options import from_values, options_of
from schemas.pyramid import SourceKind

if TYPE_CHECKING:
    from pipelines.lerobot.writer import WriteReport

console = Console()
errors = Console(stderr=True)

EXIT_INTERNAL, EXIT_INPUT, EXIT_QUARANTINED = 1, 3, 4  # and argparse's 2 for bad usage


def _home() -> Home:
    return settings.pyramid_home()


# -- embodiments ---------------------------------------------------------------------------------------------


def cmd_embodiments(args: argparse.Namespace) -> int:
    table = Table("name", "tag", "robot", "cameras", "fps", "control", "state", "action", "file", title="Embodiments")
    for e in registered_embodiments().values():
        origin = Path(embodiment_origin(e.name))
        table.add_row(
            e.name,
            e.tag,
            e.robot_type,
            ",".join(e.cameras),
            str(e.fps),
            e.control_mode.value,
            str(e.state_dim),
            str(e.action_dim),
            "built-in" if origin.parent == BUILTIN_DIR else str(origin),
        )
    console.print(table)
    return 0


def cmd_embodiments_show(args: argparse.Namespace) -> int:
    embodiment = get_embodiment(args.name)
    if args.modality:
        print(json.dumps(embodiment.to_modality(), indent=4))
    else:
        print(embodiment_yaml(embodiment, header=embodiment_origin(embodiment.name)), end="")
    return 0


def cmd_embodiments_infer(args: argparse.Namespace) -> int:
    from pipelines.ingest.infer import infer_embodiment
    from schemas.embodiment import write_embodiment_file

    data_format, path = _format_and_path(args.source, args.format)
    inferred = infer_embodiment(path, data_format, name=args.name)
    if inferred.known:
        console.print(
            f"{path} is embodiment [bold]{inferred.embodiment.name}[/] ({inferred.review[0]}); "
            f"ingest it with --embodiment {inferred.embodiment.name}"
        )
        return 0
    folder = Path(args.out) if args.out else _home().embodiments
    target = folder / f"{inferred.embodiment.name}.yaml"
    if target.exists() and not args.overwrite:
        raise InputError(f"{target}: exists; pass --overwrite to replace it, or --name for another name")
    written = write_embodiment_file(inferred.embodiment, folder, inferred.header(path))
    print(written.read_text(), end="")
    console.print(
        f"\nwrote {written}: review it, then `pyramid ingest {args.source} --embodiment {inferred.embodiment.name}`"
    )
    return 0


def _format_and_path(source: str, data_format: str) -> tuple[str, Path]:
    from pipelines.ingest.sources import detect_format

    if data_format == AUTO:
        return detect_format(Path(source))
    if not Path(source).exists():
        raise InputError(f"{source}: no such file or folder")
    return data_format, Path(source)


# -- ingest and sources --------------------------------------------------------------------------------------


def _source_from_args(args: argparse.Namespace) -> tuple[SourceKind, SourceConfig]:
    """The source a ``pyramid ingest`` / ``sources add`` command line declares (its format detected)."""
    from pipelines.ingest.infer import safe_name
    from pipelines.ingest.sources import FORMAT_KINDS

    data_format, path = _format_and_path(args.source, args.format)
    name = args.name or safe_name(_dataset_name(data_format, path.resolve()), "source")
    fields = {
        "name": name,
        "path": path.resolve(),
        "format": data_format,
        "split": args.split,
        "embodiment": args.embodiment,
        "instruction": args.instruction,
    }
    try:
        source = SourceConfig(**{k: v for k, v in fields.items() if v is not None})
    except ValueError as error:  # pydantic: a --name or --embodiment that is not a safe name
        raise InputError(f"{error.errors()[0]['loc'][0]}: {error.errors()[0]['msg']}") from None
    return SourceKind(args.kind) if args.kind else FORMAT_KINDS[data_format], source


def _dataset_name(data_format: str, path: Path) -> str:
    """A dataset's own name: a robomimic file's stem, an RLDS builder's name (its version folder's parent), else
    the folder's name."""
    if data_format == "robomimic":
        return path.stem
    return path.parent.name if data_format == "rlds" else path.name


def _declared_elsewhere(kind: SourceKind, source: SourceConfig) -> None:
    """Refuse a name that another source (of any origin) already has, unless it is this very source."""
    from pipelines.ingest.config import source_origins

    for other_kind, other, origin in source_origins(settings.sources_file(), _home()):
        if other.name == source.name and (other_kind, other.path) != (kind, source.path):
            raise InputError(f"a source named {source.name!r} is declared in {origin} ({other.path}); pass --name")


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from assets.sources import local_instance, record_ingest
    from pipelines.ingest.config import add_home_source
    from pipelines.ingest.sources import ingest_source, resolve_embodiment
    from pipelines.quality import validate_dataset
    from pipelines.runtime.parallel import RayConfig

    kind, source = _source_from_args(args)
    _declared_elsewhere(kind, source)
    source, inferred = resolve_embodiment(source, _home().embodiments)
    if inferred is not None:
        where = "known" if inferred.known else f"inferred, written to {embodiment_origin(inferred.embodiment.name)}"
        console.print(f"embodiment [bold]{inferred.embodiment.name}[/] ({where})")
    destination = _home().dataset(kind, source.name)
    ray = RayConfig(workers=args.workers, address=settings.ray_address()) if args.workers > 0 else None
    with tqdm(desc=f"ingest {source.name}", unit=" episodes", disable=args.quiet_progress) as bar:
        report = ingest_source(source, destination, lambda done: bar.update(done - bar.n), ray, inferred=inferred)
    quality = validate_dataset(report.root)
    add_home_source(_home(), kind, source, replace=True)
    record_ingest(local_instance(), kind, source, report, quality)
    _print_written(report, f"{kind.value} source {source.name!r}, embodiment {source.embodiment or 'from metadata'}")
    failed = quality.failures()
    console.print(f"quality checks: {len(quality.outcomes) - len(failed)} of {len(quality.outcomes)} passed")
    for outcome in failed[:5]:
        errors.print(
            f"[red]check failed[/] {outcome.expectation} on {outcome.column}: {outcome.unexpected} "
            f"unexpected, e.g. {outcome.examples[:3]}"
        )
    if failed:
        return EXIT_INPUT
    return _quarantine_status(report, args.allow_quarantine)


def _print_written(report: WriteReport, what: str) -> None:
    console.print(
        f"wrote {report.episodes} episodes, {report.frames} frames ({report.hours:.3f} h) to {report.root} "
        f"({what}); {len(report.rejected)} quarantined",
        soft_wrap=True,
    )
    for rejected in report.rejected[:10]:
        errors.print(
            f"[yellow]quarantined[/] {escape(f'{rejected.episode_id} ({rejected.field}): {rejected.reason}')}",
            soft_wrap=True,
        )
    if len(report.rejected) > 10:
        errors.print(f"... and {len(report.rejected) - 10} more, listed in {report.root / 'meta' / 'pyramid.json'}")


def _quarantine_status(report: WriteReport, allowed: bool) -> int:
    if report.rejected and not allowed:
        errors.print(
            f"{len(report.rejected)} episodes were quarantined; fix them, or pass --allow-quarantine to "
            "accept the dataset without them"
        )
        return EXIT_QUARANTINED
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from pipelines.ingest.config import home_sources_file, source_origins

    labels = {
        str(settings.sources_file()): "sources file",
        str(home_sources_file(_home())): "home",
        str(_home().drop): "drop folder",
    }
    table = Table("name", "kind", "format", "embodiment", "declared in", "path", title="Sources")
    for kind, source, origin in source_origins(settings.sources_file(), _home()):
        table.add_row(
            source.name, kind.value, source.format, source.embodiment or "(metadata)", labels[origin], str(source.path)
        )
    console.print(table)
    console.print(f"sources file: {settings.sources_file()}; home: {home_sources_file(_home())}")
    return 0


def cmd_sources_add(args: argparse.Namespace) -> int:
    from assets.ingest import SOURCE_PARTITIONS
    from assets.sources import local_instance
    from pipelines.ingest.config import add_home_source
    from pipelines.ingest.sources import resolve_embodiment, source_plan

    kind, source = _source_from_args(args)
    _declared_elsewhere(kind, source)
    source, _ = resolve_embodiment(source, _home().embodiments)
    source_plan(source)  # reads its metadata: a source that cannot be read is refused now, not at its first run
    written = add_home_source(_home(), kind, source, replace=True)
    local_instance().add_dynamic_partitions(SOURCE_PARTITIONS[kind].name, [source.name])
    console.print(
        f"added {kind.value} source {source.name!r} to {written}; materialize its partition in Dagster, or "
        f"run `pyramid ingest {source.path} --name {source.name}`"
    )
    return 0


def cmd_sources_remove(args: argparse.Namespace) -> int:
    from assets.sources import forget_source, local_instance
    from pipelines.ingest.config import home_sources_file, remove_home_source, source_origins

    for _, source, origin in source_origins(settings.sources_file(), _home()):
        if source.name == args.name and origin != str(home_sources_file(_home())):
            raise InputError(f"source {args.name!r} is declared in {origin}; remove it there")
    kind, source = remove_home_source(_home(), args.name)
    forget_source(local_instance(), kind, source.name)
    console.print(
        f"removed source {source.name!r}; its dataset, if ingested, stays in {_home().dataset(kind, source.name)}"
    )
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipelines.runtime.atomic import check_destination

    check_destination(Path(args.destination), [Path(args.source)], overwrite=args.overwrite)  # before slow imports
    from pipelines.lerobot.convert import convert_lerobot
    from pipelines.lerobot.video import VideoCodec
    from pipelines.lerobot.writer import WriterConfig

    config = WriterConfig(video=VideoCodec(codec=args.codec, crf=args.crf), continue_on_invalid=not args.strict)
    if args.embodiment == AUTO:
        from pipelines.ingest.infer import safe_name
        from pipelines.ingest.sources import resolve_embodiment

        source = SourceConfig(
            name=safe_name(Path(args.source).resolve().name, "source"),
            path=Path(args.source),
            format="lerobot",
            embodiment=AUTO,
        )
        args.embodiment = resolve_embodiment(source, _home().embodiments)[0].embodiment
    embodiment = get_embodiment(args.embodiment) if args.embodiment else None
    with tqdm(desc=f"convert {Path(args.source).name}", unit=" episodes", disable=args.quiet_progress) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = convert_lerobot(
            args.source,
            args.destination,
            embodiment=embodiment,
            config=config,
            on_episode=progress,
            overwrite=args.overwrite,
        )
    _print_written(report, "converted")
    return _quarantine_status(report, args.allow_quarantine)


def cmd_status(args: argparse.Namespace) -> int:
    from assets.tables import pyramid_table

    console.print(pyramid_table(_home()))
    return 0


def cmd_export_groot(args: argparse.Namespace) -> int:
    from pipelines.lerobot.groot_export import export_groot
    from pipelines.release.manifest import MANIFEST
    from pipelines.release.open import PulledRelease

    if (Path(args.source) / MANIFEST).is_file():  # a pulled release or a built pyramid: every dataset
        for name, folder in PulledRelease(args.source).export_groot(args.destination, overwrite=args.overwrite).items():
            console.print(f"{name}: GR00T v2.1 export written to {folder}")
    else:
        written = export_groot(args.source, args.destination, overwrite=args.overwrite)
        console.print(f"GR00T v2.1 export written to {written}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from pipelines.release.build import build_pyramid

    build = build_pyramid(_home(), log=console.print)
    table = Table(
        "dataset", "layer", "embodiment", "episodes", "hours", "weight", "checks", title=build.manifest.version
    )
    for e in build.manifest.datasets:
        checks = ", ".join(f"{k}: {'ok' if v else 'FAILED'}" for k, v in e.checks.items())
        table.add_row(
            e.dataset, e.layer.value, e.embodiment, str(e.episodes), f"{e.hours:.4f}", f"{e.mixture_weight:.3f}", checks
        )
    console.print(table)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from pipelines.release.store import ReleaseStore

    store = ReleaseStore(args.store)
    store.publish(_home().pyramid, log=console.print, move_latest_back=args.move_latest_back)
    if args.keep:
        for version in store.apply_retention(args.keep):
            console.print(f"retention: deleted {version}")
        console.print(store.collect_garbage().line())
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    from pipelines.release.store import ReleaseStore

    report = ReleaseStore(args.store).collect_garbage()
    console.print(report.line())
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
    for name, reason in store.unreadable.items():
        errors.print(f"[yellow]skipped[/] {escape(f'releases/{name}: {reason}')}", soft_wrap=True)
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
            overwrite=args.overwrite,
        )
    console.print(f"pulled and verified {folder}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipelines.release.store import pull_release
    from policy.plots import policy_training_png
    from policy.train import train_reference_policy

    recipe = from_values(TrainingRecipe, args)
    release = pull_release(args.store, args.release, _home().pulled)
    out = Path(args.out) if args.out else _home().policies / release.name / "all"
    with tqdm(
        total=recipe.pretrain_steps + recipe.post_train_steps, desc=f"train on {release.name}", unit="step"
    ) as bar:
        done = {"pretrain": 0, "post_train": 0}

        def progress(name: str, entry: dict[str, float]) -> None:
            done[name] = int(entry["step"])
            bar.update(sum(done.values()) - bar.n)
            bar.set_postfix(phase=name, loss=f"{entry['loss']:.4f}")

        runs = train_reference_policy(
            release, out, from_values(PolicyConfig, args), recipe, log=bar.write, on_log=progress
        )
    (out / "loss.png").write_bytes(policy_training_png(f"reference policy on {release.name}", {"loss": runs.history()}))
    console.print(f"policy {runs.served.sha256[:12]} in {runs.served.folder} (loss curve: {out / 'loss.png'})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from policy.inference import ReferencePolicy
    from policy.server import PolicyServer

    server = PolicyServer(
        ReferencePolicy(args.policy, device=args.device),
        args.host,
        args.port,
        max_message_bytes=args.max_request_mb * 2**20,
        max_batch=args.max_batch,
        token=settings.serve_token(),
        allow_remote=args.allow_remote,
    )
    token = "a token (PYRAMID_SERVE_TOKEN)" if server.token else "no token"
    console.print(f"serving {args.policy} on tcp://{args.host}:{server.port}, {token} (Ctrl-C stops)")
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

    from pipelines.runtime.parallel import RayConfig
    from policy.evaluate import ClosedLoopResult, evaluation_seeds, parallel_closed_loop, save_videos

    scoring = from_values(ClosedLoopSettings, args)
    ray = RayConfig(workers=args.workers, address=settings.ray_address()) if args.workers > 0 else None
    videos = Path(args.videos_to) if args.videos_to else Path(args.policy) / "videos"
    table = Table("task", "episodes", "successes", "success rate [Wilson 95%]", "steps to success")
    table.title = f"closed loop, policy {args.policy}"
    for task in scoring.tasks:
        with tqdm(total=scoring.episodes, desc=task, unit="episode") as bar:

            def progress(part: ClosedLoopResult, bar: tqdm = bar) -> None:
                bar.update(len(part.seeds))

            result = parallel_closed_loop(
                args.policy,
                task,
                evaluation_seeds(scoring.episodes),
                ray,
                scoring.max_steps,
                args.device,
                scoring.videos,
                progress,
            )
        low, high = result.interval
        steps = result.steps_to_success
        table.add_row(
            task,
            str(len(result.seeds)),
            str(sum(result.successes)),
            f"{result.success_rate:.2f} [{low:.2f}, {high:.2f}]",
            f"{steps:.0f}" if steps is not None else "-",
        )
        save_videos(result, videos)
    console.print(table)
    console.print(f"rollout videos in {videos}")
    return 0


def _add_source_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "source", help="a LeRobot folder, an RLDS builder folder, a robomimic HDF5 file or a folder of videos"
    )
    p.add_argument(
        "--format",
        default=AUTO,
        choices=[AUTO, "lerobot", "rlds", "robomimic", "video_folder"],
        help="the source's format (default: detected)",
    )
    p.add_argument(
        "--embodiment",
        help="embodiment name, or 'auto' to infer one (written to <home>/embodiments); "
        "default: from the dataset's metadata",
    )
    p.add_argument("--name", help="source name: its partition and dataset folder (default: from the path)")
    p.add_argument(
        "--kind",
        choices=[k.value for k in (SourceKind.TELEOP, SourceKind.OXE, SourceKind.HUMAN_VIDEO)],
        help="pyramid layer it feeds (default: teleop for LeRobot/robomimic, oxe for RLDS, human_video for videos)",
    )
    p.add_argument("--split", help="RLDS split (default: train)")
    p.add_argument("--instruction", help="instruction for episodes that carry none")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyramid", description=__doc__.split("\n\n")[0])
    parser.add_argument("--verbose", action="store_true", help="show library logs and warnings")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--no-progress", dest="quiet_progress", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("embodiments", help="list embodiments; show, or infer one from a dataset")
    p.set_defaults(run=cmd_embodiments)
    embodiments = p.add_subparsers(dest="action")
    e = embodiments.add_parser("list", help="every embodiment and the file it comes from")
    e.set_defaults(run=cmd_embodiments)
    e = embodiments.add_parser("show", help="print an embodiment's file (or its GR00T modality.json)")
    e.add_argument("name")
    e.add_argument("--modality", action="store_true", help="print its GR00T meta/modality.json instead")
    e.set_defaults(run=cmd_embodiments_show)
    e = embodiments.add_parser("infer", help="propose an embodiment file from a dataset's own metadata")
    e.add_argument("source", help="a LeRobot folder, an RLDS builder folder or a robomimic HDF5 file")
    e.add_argument("--format", default=AUTO, choices=[AUTO, "lerobot", "rlds", "robomimic"])
    e.add_argument("--name", help="embodiment name (default: from the dataset)")
    e.add_argument("--out", help="folder to write <name>.yaml into (default: <home>/embodiments)")
    e.add_argument("--overwrite", action="store_true", help="replace an existing file of that name")
    e.set_defaults(run=cmd_embodiments_infer)

    p = sub.add_parser("ingest", help="ingest a dataset into the pyramid home (any format), check it, register it")
    _add_source_arguments(p)
    p.add_argument("--workers", type=int, default=0, help="Ray workers reading and encoding (0: in this process)")
    p.add_argument("--allow-quarantine", action="store_true", help="exit 0 even when episodes were quarantined")
    p.set_defaults(run=cmd_ingest)

    p = sub.add_parser("sources", help="list the declared sources; add or remove one of the home's")
    p.set_defaults(run=cmd_sources)
    sources = p.add_subparsers(dest="action")
    e = sources.add_parser("list", help="every source and where it is declared")
    e.set_defaults(run=cmd_sources)
    e = sources.add_parser("add", help="declare a source in <home>/sources.yaml (Dagster shows its partition)")
    _add_source_arguments(e)
    e.set_defaults(run=cmd_sources_add)
    e = sources.add_parser("remove", help="remove a source from <home>/sources.yaml (its dataset stays)")
    e.add_argument("name")
    e.set_defaults(run=cmd_sources_remove)

    p = sub.add_parser("convert", help="convert a LeRobot v2.x/v3.0 dataset into a pyramid LeRobot v3.0 dataset")
    p.add_argument("source", help="dataset folder (holding meta/info.json)")
    p.add_argument("destination", help="output folder (replaced atomically)")
    p.add_argument("--embodiment", help="embodiment name, or 'auto' to infer one; default: from the dataset's metadata")
    p.add_argument("--codec", choices=["h264", "av1"], default="h264", help="video codec (default h264)")
    p.add_argument("--crf", type=int, default=None, help="video quality; default 20 (h264) / 30 (av1)")
    p.add_argument("--strict", action="store_true", help="fail on the first bad episode instead of quarantining it")
    p.add_argument("--allow-quarantine", action="store_true", help="exit 0 even when episodes were quarantined")
    p.add_argument("--overwrite", action="store_true", help="replace a destination pyramid did not write")
    p.set_defaults(run=cmd_convert)

    p = sub.add_parser("export-groot", help="export a pyramid v3.0 dataset, or a release, to GR00T's LeRobot v2.1")
    p.add_argument("source", help="a dataset folder, or a pulled release (every dataset)")
    p.add_argument("destination", help="output folder (an earlier export there is replaced)")
    p.add_argument("--overwrite", action="store_true", help="replace a destination pyramid did not write")
    p.set_defaults(run=cmd_export_groot)

    p = sub.add_parser("status", help="print the datasets materialised in the pyramid home")
    p.set_defaults(run=cmd_status)

    store_help = "release store URI (any fsspec URI; default $PYRAMID_STORE or <home>/store)"
    default_store = settings.store_uri() or str(_home().store)

    p = sub.add_parser("build", help="(re)build <home>/pyramid: merge, check, weight and manifest every dataset")
    p.set_defaults(run=cmd_build)

    p = sub.add_parser("publish", help="publish <home>/pyramid as an immutable release")
    p.add_argument("--store", default=default_store, help=store_help)
    p.add_argument(
        "--keep", type=int, default=0, help="then keep only the N newest releases and free their objects (0: keep all)"
    )
    p.add_argument(
        "--move-latest-back",
        action="store_true",
        help="point latest at it even when an existing release was built later",
    )
    p.set_defaults(run=cmd_publish)

    p = sub.add_parser("releases", help="list published releases")
    p.add_argument("--store", default=default_store, help=store_help)
    p.set_defaults(run=cmd_releases)

    p = sub.add_parser("gc", help="delete the store's objects no release references (left by abandoned publishes)")
    p.add_argument("--store", default=default_store, help=store_help)
    p.set_defaults(run=cmd_gc)

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
    p.add_argument("--overwrite", action="store_true", help="pull into a DEST/<version> pyramid did not write")
    p.set_defaults(run=cmd_pull)

    p = sub.add_parser("train", help="train the reference policy on a published release (resumes an unfinished run)")
    p.add_argument("--release", default="latest", help="a version id, or latest")
    p.add_argument("--store", default=default_store, help=store_help)
    p.add_argument("--out", help="run folder (default <home>/policies/<version>/all)")
    add_options(p, TrainingRecipe, PolicyConfig)
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("serve", help="serve a trained policy over ZeroMQ + msgpack")
    p.add_argument("--policy", required=True, help="a run folder pyramid train printed")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback)")
    p.add_argument("--port", type=int, default=5555)
    p.add_argument(
        "--allow-remote", action="store_true", help="allow a --host beyond loopback (set a token: PYRAMID_SERVE_TOKEN)"
    )
    add_options(p, ServerLimits)
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=cmd_serve)

    p = sub.add_parser("eval", help="closed-loop success of a trained policy in robosuite")
    p.add_argument("--policy", required=True, help="a run folder pyramid train printed")
    add_options(p, ClosedLoopSettings)
    p.add_argument("--workers", type=int, default=2, help="Ray workers running episodes (0: in this process)")
    p.add_argument("--device", default="cpu", help="torch device of the policy")
    p.add_argument("--videos-to", help="folder for the recorded episodes' mp4 files (default: the policy's run folder)")
    p.set_defaults(run=cmd_eval)
    return parser


def add_options(parser: argparse.ArgumentParser, *configs: type) -> None:
    """A flag for every option field of the dataclasses ``configs`` (``post_train_steps`` is
    ``--post-train-steps``), with its type, default and help."""
    for option in options_of(*configs):
        flag, shown = "--" + option.name.replace("_", "-"), option.default
        if option.annotation == list[str]:
            parser.add_argument(flag, nargs="+", default=option.default, metavar=option.name.upper())
            shown = " ".join(option.default)
        else:
            parser.add_argument(flag, type=option.annotation, default=option.default)
        parser._actions[-1].help = f"{option.help} (default: {shown if shown != '' else 'none'})"


def main(argv: list[str] | None = None) -> int:
    settings.use_process_defaults()
    args = build_parser().parse_args(argv)
    if not args.verbose:
        quiet_libraries()
    reload_embodiments()  # each command reads the embodiment files as they are now
    try:
        return args.run(args)
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
    except InputError as error:
        if args.debug:
            raise
        errors.print(f"[red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        return EXIT_INPUT
    except Exception as error:  # anything else is pyramid's fault: say so, briefly
        if args.debug:
            raise
        errors.print(
            f"[red]internal error:[/] {type(error).__name__}: {escape(str(error))}\n(run with --debug for the "
            "traceback, and please report it)",
            highlight=False,
            soft_wrap=True,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
