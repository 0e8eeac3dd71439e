"""The MimicGen effect through the reference policy: teleop demos alone against the same demos plus
MimicGen-style generated ones, on the same budget, scored on the same held-out episodes and the same seeded
robosuite scenes (``policy.layer_value``), with Wilson 95% intervals.

From an empty scratch home it records ``--demos`` scripted-expert demos per task, generates ``--generated``
more per task in simulation, ingests both, builds the pyramid, then trains and scores ``teleop_only`` and
``teleop_sim``. Writes ``benchmarks/results/learning.json`` (every figure, the goals met or not, the
commit, the date and the machine) and prints the table. ``--architecture chunk_regression`` trains the
robomimic-style behaviour-cloning baseline instead, on the same data, inputs and budget, and writes
``learning_chunk_regression.json``: what separates a data problem from a policy problem. Other ``--tasks``
than Lift and Stack write ``learning_<tasks>.json`` (e.g. ``learning_pickplacecan.json``), another
``--vision-stride`` than the default ``learning_stride<N>.json``, another ``--learning-rate``
``learning_lr<rate>.json``. A ``--home`` whose
pyramid is built already is reused as it is (the same data for every architecture).

    python benchmarks/bench_learning.py [--tasks Lift Stack] [--demos 10] [--generated 120] [--steps 10000]
        [--episodes 50] [--workers 2] [--home DIR] [--architecture flow_matching|chunk_regression]
        [--vision-stride N] [--learning-rate RATE]
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from record import at_least, bench_parser, write_result
from tqdm import tqdm

from generators.robosuite_env import ROBOSUITE_TASKS
from generators.scripted_teleop import ExpertConfig, record_teleop_set
from generators.sim.generate import generate_demos
from pipelines.ingest.config import SourceConfig
from pipelines.ingest.sources import ingest_source
from pipelines.release.build import build_pyramid
from pipelines.release.manifest import load_manifest
from pipelines.runtime.parallel import RayConfig, ray_session
from policy.config import PANDA, ClosedLoopSettings, PolicyConfig, TrainingRecipe
from policy.data import load_release
from policy.layer_value import BASELINE, layer_value_rows, layer_value_table, layer_value_variants, score_variant
from schemas.home import Home
from schemas.pyramid import SourceKind

GOALS = {  # figure -> the least it should reach (issue: the pyramid proves its worth)
    "lift_success": 0.9,
    "stack_success": 0.6,
    "pickplacecan_success": 0.5,  # the stretch goal
}
TASKS = ["Lift", "Stack"]


def record_sources(home: Home, tasks: list[str], demos: int, generated: int, ray: RayConfig) -> None:
    """Teleop and simulated demos of every task, ingested as the home's teleop and sim datasets."""
    for task in tasks:
        name = ROBOSUITE_TASKS[task].dataset_name
        teleop, sim = home.raw / "teleop" / f"{name}.hdf5", home.raw / "sim" / f"{name}.hdf5"
        teleop.parent.mkdir(parents=True, exist_ok=True)
        sim.parent.mkdir(parents=True, exist_ok=True)
        record_teleop_set(task, demos, teleop, ExpertConfig(), ray=ray)
        generate_demos(task, teleop, generated, sim, ray=ray)
        for kind, path in ((SourceKind.TELEOP, teleop), (SourceKind.SIM, sim)):  # as the demo's sources
            source = SourceConfig(
                name=name, path=path, format="robomimic", embodiment=PANDA, trim_idle=kind == SourceKind.TELEOP
            )
            ingest_source(source, home.dataset(kind, name), ray=ray)
        print(f"{task}: {demos} teleop and {generated} generated demos ingested")


@contextmanager
def training_bar(description: str, steps: int) -> Iterator[tuple[Callable[[dict[str, float]], None], Callable]]:
    """A progress bar of a training run's steps and loss: yields the run's ``on_log`` and a ``log`` that prints
    above the bar."""
    with tqdm(total=steps, desc=description, unit="step") as bar:

        def progress(entry: dict[str, float]) -> None:
            bar.update(int(entry["step"]) - bar.n)
            bar.set_postfix(loss=f"{entry['loss']:.4f}")

        yield progress, bar.write


def demos_per_task(home: Home, tasks: int) -> dict[str, float]:
    """Teleop and generated demos per task in the pyramid trained on (a reused home's, not the flags')."""
    datasets = load_manifest(home.pyramid).datasets
    count = {
        kind: sum(e.episodes for e in datasets if e.source == kind) for kind in (SourceKind.TELEOP, SourceKind.SIM)
    }
    return {
        "teleop_demos_per_task": count[SourceKind.TELEOP] / tasks,
        "generated_demos_per_task": count[SourceKind.SIM] / tasks,
    }


def main() -> None:
    parser = bench_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=TASKS, help="other tasks write learning_<tasks>.json")
    parser.add_argument("--demos", type=int, default=10, help="teleop (scripted-expert) demos per task")
    parser.add_argument("--generated", type=int, default=120, help="MimicGen-style demos generated per task")
    parser.add_argument("--steps", type=int, default=10000, help="training steps of every variant")
    parser.add_argument("--episodes", type=int, default=50, help="closed-loop episodes per task and variant")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--home", help="scratch pyramid home (default: a temporary folder); its pyramid is reused")
    parser.add_argument("--architecture", default="flow_matching", choices=["flow_matching", "chunk_regression"])
    parser.add_argument(
        "--vision-stride", type=int, default=PolicyConfig.vision_stride, help="PolicyConfig.vision_stride"
    )
    parser.add_argument(
        "--learning-rate", type=float, default=TrainingRecipe.learning_rate, help="TrainingRecipe.learning_rate"
    )
    args = parser.parse_args()

    started = time.monotonic()
    home = Home(Path(args.home or tempfile.mkdtemp(prefix="bench_learning_")))
    ray = RayConfig(workers=args.workers)
    recipe = TrainingRecipe(pretrain_steps=args.steps, post_train_steps=0, learning_rate=args.learning_rate)
    config = PolicyConfig(architecture=args.architecture, vision_stride=args.vision_stride)
    option_suffix = ("" if args.vision_stride == PolicyConfig.vision_stride else f"_stride{args.vision_stride}") + (
        "" if args.learning_rate == TrainingRecipe.learning_rate else f"_lr{args.learning_rate:g}"
    )
    scoring = ClosedLoopSettings(tasks=args.tasks, episodes=args.episodes, videos=0)
    with ray_session(ray):
        if load_manifest(home.pyramid) is None:
            record_sources(home, args.tasks, args.demos, args.generated, ray)
            build_pyramid(home)
        data_minutes = (time.monotonic() - started) / 60
        evaluation = load_release(home.pyramid, config, seed=recipe.seed, embodiments={PANDA}, log=print)
        variants = [v for v in layer_value_variants({SourceKind.TELEOP, SourceKind.SIM}, []) if v.name != "all"]
        variants_started = time.monotonic()
        scores = []
        for v in variants:
            with training_bar(f"train {v.name}", args.steps) as (progress, log):
                out = home.policies / (args.architecture + option_suffix) / v.name
                scores.append(
                    score_variant(v, home.pyramid, out, config, recipe, scoring, evaluation, ray, log, progress)
                )
        variant_minutes = (time.monotonic() - variants_started) / 60 / len(variants)
    rows = layer_value_rows(scores)
    print(layer_value_table(rows, args.tasks))

    by_name = {row["variant"]: row for row in rows}
    best = by_name["teleop_sim"]
    figures: dict[str, float | int | None] = {
        "episodes_per_task": args.episodes,
        "training_steps": args.steps,
        **demos_per_task(home, len(args.tasks)),
        "minutes_for_data": round(data_minutes, 2),
        "minutes_per_variant": round(variant_minutes, 2),  # training and scoring
        "training_minutes_per_variant": round(sum(s.trained.minutes for s in scores) / len(scores), 2),
    }
    for task in (t.lower() for t in args.tasks):
        for variant, row in by_name.items():
            for suffix in ("", "_lo", "_hi"):
                figures[f"{task}_{variant}{suffix}"] = row[f"{task}_success{suffix}"]
        for suffix in ("", "_lo", "_hi"):
            figures[f"{task}_success{suffix}"] = best[f"{task}_success{suffix}"]
    goals = {name: at_least(figures[name], floor) for name, floor in GOALS.items() if name in figures}
    for task in (t.lower() for t in args.tasks):  # lower bound with simulation minus upper bound without
        figures[f"{task}_teleop_sim_interval_gap"] = round(
            by_name["teleop_sim"][f"{task}_success_lo"] - by_name[BASELINE][f"{task}_success_hi"], 4
        )
        goals[f"{task}_teleop_sim_interval_gap"] = at_least(figures[f"{task}_teleop_sim_interval_gap"], 0)
    baseline = args.architecture == "chunk_regression"
    tasks_suffix = "" if args.tasks == TASKS else "_" + "_".join(t.lower() for t in args.tasks)
    write_result(
        "learning" + tasks_suffix + ("_chunk_regression" if baseline else "") + option_suffix,
        "Learning value: the MimicGen effect" + (" (behaviour-cloning baseline)" if baseline else ""),
        figures,
        goals,
        reference="the same variants trained as the robomimic-style behaviour-cloning baseline: "
        + ("this file" if baseline else "learning_chunk_regression.json"),
        setup=f"{figures['teleop_demos_per_task']:g} scripted teleop demos and {figures['generated_demos_per_task']:g} "
        "MimicGen-style demos per task "
        f"({', '.join(args.tasks)}), {args.steps} training steps per variant ({args.architecture}, vision stride "
        f"{config.vision_stride}, learning rate {recipe.learning_rate:g}"
        + (f", {config.inference_steps} Euler step(s) per chunk" if args.architecture == "flow_matching" else "")
        + "), "
        f"{args.episodes} seeded closed-loop episodes per task and variant of at most {scoring.max_steps} steps, "
        f"{args.workers} Ray workers.",
        rows=rows,
    )


if __name__ == "__main__":
    main()
