"""The reference policy at a GPU size, on the learning benchmark's data: ``train`` runs the teleop + simulation
variant of a ``bench_learning.py`` home's release on a GPU node (no simulator needed there), and ``score``
runs where robosuite does, on the same held-out episodes and the same 50 seeded scenes per task as
``bench_learning.py``. Writes ``benchmarks/results/learning_gpu.json``, whose machine is the one that trained;
its figures sit apart from the CPU figures of ``learning.json``, which it names as its reference. Not in
``make bench``: it needs a GPU node and a trained run carried back from it.

    python benchmarks/learning_gpu.py train --release HOME/pyramid --out RUN [--pretrain-steps 3000]
        [--batch-size 128] [--hidden 192] [--heads 6] [--vl-layers 4] [--dit-layers 8] [--loader-workers 14]
        [--device cuda] [any other TrainingRecipe or PolicyConfig flag of ``pyramid train``]
    python benchmarks/learning_gpu.py score --release HOME/pyramid --run RUN [--tasks Lift Stack] [--episodes 50]
        [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from record import RESULTS, at_least, bench_parser, machine, write_result
from tqdm import tqdm

from assets.cli import add_options
from pipelines.learning.checkpoints import load_checkpoint
from policy.config import PANDA, ClosedLoopSettings, PolicyConfig, TrainingRecipe
from policy.data import Mixture, load_release
from policy.train import CHECKPOINT_DIR, train_reference_policy
from schemas.options import from_values
from schemas.pyramid import SourceKind

VARIANT = "teleop_sim"
TRAINING_RECORD = "training.json"
GPU_SIZE = {  # about 5x the CPU reference's weights (14.3 M against 3.0 M), 4x its batch
    "hidden": 192,
    "heads": 6,
    "vl_layers": 4,
    "dit_layers": 8,
    "batch_size": 128,
    "pretrain_steps": 3000,  # 6 min on one H200
    "post_train_steps": 0,
    "loader_workers": 14,
    "device": "cuda",
}


def train(args: argparse.Namespace) -> None:
    """Train the variant into ``args.out`` and record the training machine, size and rate beside the run."""
    config, recipe = from_values(PolicyConfig, args), from_values(TrainingRecipe, args)
    mixture = Mixture(frozenset({SourceKind.TELEOP, SourceKind.SIM}))  # layer_value_variants' teleop_sim
    logged: list[tuple[float, int]] = []  # (seconds, step) of every loss line: the rate once the loader runs
    started = time.monotonic()
    with tqdm(total=recipe.pretrain_steps, desc=f"train {VARIANT}", unit="step") as bar:

        def progress(phase: str, entry: dict[str, float]) -> None:
            logged.append((time.monotonic(), int(entry["step"])))
            bar.update(int(entry["step"]) - bar.n)
            bar.set_postfix(loss=f"{entry['loss']:.4f}")

        runs = train_reference_policy(args.release, args.out, config, recipe, mixture, log=bar.write, on_log=progress)
    minutes = (time.monotonic() - started) / 60
    (first_time, first_step), (last_time, last_step) = logged[0], logged[-1]
    steady = (last_step - first_step) / (last_time - first_time) if last_step > first_step else None
    weights = load_checkpoint(runs.served.folder / CHECKPOINT_DIR).weights
    record = {
        "machine": machine(),
        "policy": config.to_dict(),
        "recipe": asdict(recipe),
        "parameters": sum(w.numel() for w in weights.values()),
        "training_minutes": round(minutes, 2),
        "steady_steps_per_s": round(steady, 2) if steady else None,
        "final_loss": runs.history()[-1]["loss"],
        "served": str(runs.served.folder.relative_to(Path(args.out))),
        "history": runs.history(),
    }
    (Path(args.out) / TRAINING_RECORD).write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("parameters", "training_minutes", "steady_steps_per_s", "final_loss")}))


def score(args: argparse.Namespace) -> None:
    """Score the run carried back from the GPU node, as ``bench_learning.py`` scores its variants."""
    # robosuite and Ray: imported here, since the GPU node that trains has neither
    from bench_learning import GOALS

    from pipelines.runtime.parallel import RayConfig, ray_session
    from policy.evaluate import evaluation_seeds, open_loop, parallel_closed_loop
    from policy.inference import ReferencePolicy

    run = Path(args.run)
    trained = json.loads((run / TRAINING_RECORD).read_text())
    folder = run / trained["served"]
    config, recipe = PolicyConfig.from_dict(trained["policy"]), TrainingRecipe(**trained["recipe"])
    scoring = ClosedLoopSettings(tasks=args.tasks, episodes=args.episodes, videos=0)
    ray = RayConfig(workers=args.workers)
    with ray_session(ray):
        evaluation = load_release(args.release, config, seed=recipe.seed, embodiments={PANDA}, log=print)
        errors = [
            e
            for _, episodes in sorted(open_loop(ReferencePolicy(folder), evaluation, {PANDA}).episode_mse.items())
            for e in episodes
        ]
        figures: dict[str, Any] = {
            "parameters": trained["parameters"],
            "training_steps": recipe.pretrain_steps,
            "batch_size": recipe.batch_size,
            "training_minutes": trained["training_minutes"],
            "steady_steps_per_s": trained["steady_steps_per_s"],
            "samples_seen": recipe.pretrain_steps * recipe.batch_size,
            "open_loop_mse": round(float(np.mean(errors)), 6),  # per held-out episode, as bench_learning.py's
        }
        for task in scoring.tasks:
            result = parallel_closed_loop(folder, task, evaluation_seeds(scoring.episodes), ray, scoring.max_steps)
            low, high = result.interval
            name = task.lower()
            figures |= {f"{name}_success": result.success_rate, f"{name}_success_lo": low, f"{name}_success_hi": high}
            print(f"{task}: {sum(result.successes)}/{len(result.successes)} [{low:.2f}, {high:.2f}]")
    cpu = json.loads((RESULTS / "learning.json").read_text())["figures"]
    for task in (t.lower() for t in scoring.tasks):
        if f"{task}_{VARIANT}" in cpu:
            figures[f"{task}_cpu_reference"] = cpu[f"{task}_{VARIANT}"]
    # bench_learning.py trains at the recipe's default batch
    cpu_rate = cpu["training_steps"] * TrainingRecipe.batch_size / (cpu["training_minutes_per_variant"] * 60)
    figures["training_samples_per_s"] = round(figures["samples_seen"] / (trained["training_minutes"] * 60), 1)
    figures["cpu_training_samples_per_s"] = round(cpu_rate, 1)
    figures["training_samples_per_s_vs_cpu"] = round(figures["training_samples_per_s"] / cpu_rate, 2)
    gpu = trained["machine"]
    write_result(
        "learning_gpu",
        "Learning value at a GPU size: teleop + simulation",
        figures,
        {name: at_least(figures[name], floor) for name, floor in GOALS.items() if name in figures},
        reference=f"learning.json's {VARIANT} at the CPU reference size (`*_cpu_reference`)",
        setup=f"The {VARIANT} variant of a bench_learning.py home, trained on {gpu['gpu']} ({gpu['cores']} cores): "
        f"{figures['parameters'] / 1e6:.1f} M weights (hidden {config.hidden}, {config.vl_layers} System 2 and "
        f"{config.dit_layers} System 1 layers), {recipe.pretrain_steps} steps at batch {recipe.batch_size}, "
        f"{recipe.loader_workers} loader workers. Scored on a CPU machine ({args.workers} Ray workers): "
        f"{scoring.episodes} seeded closed-loop episodes per task of at most {scoring.max_steps} steps, the "
        "scenes bench_learning.py uses.",
        measured_on=gpu,
    )


def main() -> None:
    parser = bench_parser(__doc__.split("\n\n")[0])
    steps = parser.add_subparsers(dest="step", required=True)
    p = steps.add_parser("train", help="on the GPU node: train the variant into --out")
    p.add_argument("--release", required=True, help="the pyramid folder of a bench_learning.py home")
    p.add_argument("--out", required=True, help="run folder")
    add_options(p, TrainingRecipe, PolicyConfig)
    p.set_defaults(**GPU_SIZE)
    p = steps.add_parser("score", help="where robosuite runs: score the run, write results/learning_gpu.json")
    p.add_argument("--release", required=True, help="the same pyramid folder")
    p.add_argument("--run", required=True, help="the run folder train wrote, carried back")
    p.add_argument("--tasks", nargs="+", default=["Lift", "Stack"])
    p.add_argument("--episodes", type=int, default=ClosedLoopSettings.episodes)
    p.add_argument("--workers", type=int, default=2, help="Ray workers running episodes")
    args = parser.parse_args()
    {"train": train, "score": score}[args.step](args)


if __name__ == "__main__":
    main()
