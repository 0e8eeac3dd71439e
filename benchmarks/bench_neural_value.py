"""What neural trajectories are worth to the reference policy, with the instruction filter and without it.

From an empty scratch home it records ``--demos`` scripted teleop demos of each of ``--tasks`` (two at least:
the matcher learns which instruction a clip follows, and a clip's counterfactual instructions are the other
tasks') and generates ``--generated`` MimicGen-style ones per task; together they train the label models and
the instruction matcher, as the pipeline's do, and no variant trains on the generated ones. Then the
pipeline's neural stages run at their default sizes: the latent action model and the IDM (fewer training steps
than the pipeline's by default, so that the whole run fits about 90 minutes on 2 cores), the video model (on
the teleop demos) and the instruction matcher; clips from every teleop first frame at ``--multiplier``; and
those clips labelled twice, with the instruction filter on and off, each into its own home whose pyramid is
built (a pyramid merges one source kind per embodiment, so the two neural datasets cannot share one).

Three variants train with the same recipe, and score on the same held-out episodes and seeded robosuite scenes
of ``--scored`` tasks (``policy.layer_value``), with 95% intervals:
- ``teleop_only``;
- ``teleop_neural``: + the neural trajectories kept by every filter, drawn ``--neural-share`` of the time;
- ``teleop_neural_unfiltered``: the same, but labelled with the instruction filter off; compared with
  ``teleop_neural``.

Writes ``benchmarks/results/neural_value.json`` (every figure, the kept clips of each labelling, the commit,
the date and the machine) and prints the table. A ``--home`` is reused stage by stage.

    python benchmarks/bench_neural_value.py [--tasks Lift Stack] [--scored Lift] [--demos 10] [--generated 40]
        [--steps 2000] [--episodes 50] [--multiplier 10] [--neural-share 0.5] [--home DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_learning import record_sources, training_bar
from record import bench_parser, write_result
from tqdm import tqdm

from generators.video.config import (
    INSTRUCTION_MATCHER_TRAINING,
    VIDEO_TRAINING,
    GenerationConfig,
    InstructionMatcherConfig,
    NeuralFilters,
    VideoModelConfig,
)
from generators.video.generate import generate_clips
from generators.video.instruction_match import save_matcher, train_matcher
from generators.video.model import save_video_pipeline
from generators.video.neural import label_neural_trajectories, multiplier_outcome
from generators.video.train import train_video_model
from idm.config import IDM_TRAINING, IDMConfig
from idm.label import save_idm
from idm.train import train_idm
from latent_actions.config import LATENT_ACTION_TRAINING, LatentActionConfig
from latent_actions.label import save_latent_action_model
from latent_actions.train import train_latent_action_model
from pipelines.learning.labelled import video_datasets
from pipelines.lerobot.inventory import summarise_home
from pipelines.lerobot.reader import LeRobotSource
from pipelines.release.build import build_pyramid
from pipelines.runtime.parallel import RayConfig, ray_session
from policy.config import PANDA, ClosedLoopSettings, PolicyConfig, TrainingRecipe
from policy.data import Mixture, load_release
from policy.layer_value import BASELINE, Variant, layer_value_rows, layer_value_table, score_variant
from schemas.embodiment import get_embodiment
from schemas.home import Home
from schemas.pyramid import Layer, SourceKind

FILTERED, UNFILTERED = "teleop_neural", "teleop_neural_unfiltered"


def trained_once[T](
    folder: Path, description: str, steps: int, train: Callable[[Callable], T], save: Callable[[Path, T], object]
) -> None:
    """``save(folder, train(progress))`` unless ``folder`` holds a model already (a reused home)."""
    if folder.exists():
        print(f"{description}: reusing {folder}")
        return
    with training_bar(description, steps) as (progress, _):
        save(folder, train(progress))


def label_models(home: Home, args: argparse.Namespace) -> None:
    """The latent action model, the IDM, the video model and the instruction matcher, each on the data its
    asset trains on (every video; the Panda's teleop and sim; the Panda's teleop; the Panda's teleop and sim)."""
    every_video = [str(s.root) for s in video_datasets(home)]
    panda_video = [str(s.root) for s in video_datasets(home, PANDA)]
    teleop = [str(s.root) for s in summarise_home(home) if s.source == SourceKind.TELEOP]
    panda = get_embodiment(PANDA)
    latent = replace(LATENT_ACTION_TRAINING, steps=args.latent_steps)
    trained_once(
        home.latent_action_model(),
        "latent action model",
        latent.steps,
        lambda on_log: train_latent_action_model(every_video, LatentActionConfig(), latent, PANDA, on_log=on_log),
        lambda folder, t: save_latent_action_model(folder, t.model, t.evaluation.to_dict()),
    )
    idm = replace(IDM_TRAINING, steps=args.idm_steps)
    idm_config = IDMConfig(PANDA, panda.cameras[0], panda.action_dim)
    trained_once(
        home.idm(PANDA),
        "IDM",
        idm.steps,
        lambda on_log: train_idm(panda_video, idm_config, idm, on_log=on_log),
        lambda folder, t: save_idm(folder, t.model, t.normaliser, t.evaluation.to_dict()),
    )
    video = replace(VIDEO_TRAINING, steps=args.video_steps)
    trained_once(
        home.video_model(PANDA),
        "video model",
        video.steps,
        lambda on_log: train_video_model(teleop, VideoModelConfig(), video, GenerationConfig(), on_log=on_log),
        lambda folder, t: save_video_pipeline(folder, t.pipeline, t.evaluation.to_dict()),
    )
    matcher = replace(INSTRUCTION_MATCHER_TRAINING, steps=args.matcher_steps)
    trained_once(
        home.instruction_matcher(PANDA),
        "instruction matcher",
        matcher.steps,
        lambda on_log: train_matcher(panda_video, InstructionMatcherConfig(), matcher, on_log=on_log),
        save_matcher,
    )


def neural_homes(home: Home, unfiltered: Home, args: argparse.Namespace, ray: RayConfig) -> dict[str, float]:
    """Clips generated once, labelled with the instruction filter into ``home`` and without it into
    ``unfiltered`` (a copy of ``home``'s teleop and sim datasets), each home's pyramid built; what each kept."""
    clips = home.generated_clips(PANDA)
    if not clips.exists():
        teleop = [s.root for s in summarise_home(home) if s.source == SourceKind.TELEOP]
        config = GenerationConfig(multiplier=args.multiplier)
        with tqdm(desc="generated clips", unit="clip") as bar:
            generate_clips(
                teleop, clips, home.video_model(PANDA), config, ray=ray, on_item=lambda done: bar.update(done - bar.n)
            )
    figures: dict[str, float] = {"generated_clips": len(LeRobotSource(clips).episode_indices)}
    for target, filters in ((home, NeuralFilters()), (unfiltered, NeuralFilters(instruction_match=False))):
        for kind in (SourceKind.TELEOP, SourceKind.SIM):
            if not (target.datasets / kind.value).exists():
                shutil.copytree(home.datasets / kind.value, target.datasets / kind.value)
        report = label_neural_trajectories(
            clips,
            target.dataset(SourceKind.NEURAL, PANDA),
            home.idm(PANDA),
            home.latent_action_model(),
            filters,
            matcher_checkpoint=home.instruction_matcher(PANDA),
            ray=ray,
        )
        outcome = multiplier_outcome(clips, report)
        prefix = "unfiltered" if target is unfiltered else "filtered"
        figures |= {f"{prefix}_clips_kept": report.episodes, f"{prefix}_multiplier": round(outcome.multiplier, 2)}
        figures |= {f"{prefix}_kept_share_{kind}": share for kind, share in outcome.kept_share.items()}
        figures |= {f"{prefix}_rejected_{reason}": count for reason, count in outcome.rejections.items()}
        print(f"{prefix}: {report.episodes} clips kept, rejected {outcome.rejections}")
        build_pyramid(target)
    return figures


def main() -> None:
    parser = bench_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="+", default=["Lift", "Stack"], help="robosuite tasks recorded")
    parser.add_argument("--scored", nargs="+", default=["Lift"], help="tasks scored in closed loop")
    parser.add_argument("--demos", type=int, default=10, help="teleop (scripted-expert) demos per task")
    parser.add_argument("--generated", type=int, default=40, help="MimicGen-style demos per task, label models only")
    parser.add_argument(
        "--latent-steps", type=int, default=500, help=f"pipeline default: {LATENT_ACTION_TRAINING.steps}"
    )
    parser.add_argument("--idm-steps", type=int, default=2000, help=f"pipeline default: {IDM_TRAINING.steps}")
    parser.add_argument("--video-steps", type=int, default=VIDEO_TRAINING.steps)
    parser.add_argument("--matcher-steps", type=int, default=INSTRUCTION_MATCHER_TRAINING.steps)
    parser.add_argument("--multiplier", type=float, default=GenerationConfig().multiplier)
    parser.add_argument("--neural-share", type=float, default=0.5, help="share of the draws from neural clips")
    parser.add_argument("--steps", type=int, default=2000, help="training steps of every variant")
    parser.add_argument("--episodes", type=int, default=50, help="closed-loop episodes per variant")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--home", help="scratch folder (default: a temporary one); its stages are reused")
    args = parser.parse_args()

    started = time.monotonic()
    scratch = Path(args.home or tempfile.mkdtemp(prefix="bench_neural_value_"))
    home, unfiltered = Home(scratch / "filtered"), Home(scratch / "unfiltered")
    ray = RayConfig(workers=args.workers)
    recipe = TrainingRecipe(pretrain_steps=args.steps, post_train_steps=0)
    config = PolicyConfig()
    scoring = ClosedLoopSettings(tasks=args.scored, episodes=args.episodes, videos=0)
    with ray_session(ray):
        if not (home.datasets / SourceKind.SIM.value).exists():
            record_sources(home, args.tasks, args.demos, args.generated, ray)
        label_models(home, args)
        kept = neural_homes(home, unfiltered, args, ray)
        data_minutes = (time.monotonic() - started) / 60
        evaluation = load_release(home.pyramid, config, seed=recipe.seed, embodiments={PANDA}, log=print)
        with_neural = Mixture(frozenset({SourceKind.TELEOP, SourceKind.NEURAL}), {Layer.SYNTHETIC: args.neural_share})
        variants = [
            (Variant(BASELINE, Mixture(frozenset({SourceKind.TELEOP})), BASELINE), home),
            (Variant(FILTERED, with_neural, BASELINE), home),
            (Variant(UNFILTERED, with_neural, FILTERED), unfiltered),
        ]
        scores = []
        for variant, source in variants:
            with training_bar(f"train {variant.name}", args.steps) as (progress, log):
                out = scratch / "policies" / variant.name
                scores.append(
                    score_variant(variant, source.pyramid, out, config, recipe, scoring, evaluation, ray, log, progress)
                )
    rows = layer_value_rows(scores)
    print(layer_value_table(rows, args.scored))
    figures: dict[str, Any] = {
        "teleop_demos_per_task": args.demos,
        "episodes": args.episodes,
        "training_steps": args.steps,
        "neural_share": args.neural_share,
        **kept,
        "minutes_for_data": round(data_minutes, 2),
        "training_minutes_per_variant": round(sum(s.trained.minutes for s in scores) / len(scores), 2),
    }
    for row in rows:
        figures[f"open_loop_mse_{row['variant']}"] = round(row["open_loop_mse"], 6)
        for task in (t.lower() for t in args.scored):
            for key in ("success", "success_lo", "success_hi", "change", "change_lo", "change_hi"):
                if f"{task}_{key}" in row:
                    figures[f"{task}_{row['variant']}_{key}"] = round(row[f"{task}_{key}"], 4)
    write_result(
        "neural_value",
        "Learning value of neural trajectories, with and without the instruction filter",
        figures,
        {},
        reference=f"{BASELINE} (the teleop demos alone), and for {UNFILTERED} the filtered {FILTERED}",
        setup=f"{args.demos} scripted teleop demos per task ({', '.join(args.tasks)}), + {args.generated} "
        "MimicGen-style demos per task that train only the label models and the matcher; training steps: latent "
        f"action model {args.latent_steps}, IDM {args.idm_steps}, video model {args.video_steps}, matcher "
        f"{args.matcher_steps}; clips at multiplier {args.multiplier:g}; neural share {args.neural_share:g} of the "
        f"draws; {args.steps} training steps per variant, {args.episodes} seeded closed-loop episodes of "
        f"{', '.join(args.scored)}, {args.workers} Ray workers. minutes_for_data counts the stages this run did, "
        "not those a reused home already had.",
        rows=rows,
    )


if __name__ == "__main__":
    main()
