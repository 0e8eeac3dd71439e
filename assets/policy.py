"""The reference policy on the latest published release: trained, evaluated open and closed loop, and the
value of each pyramid layer (the same training budget without that layer).

Runs live in ``<home>/policies/<release>/<variant>`` (variant ``all`` or ``without_<layer>``); a finished run
with the same settings is reused, so the layer-value asset does not retrain the policy it shares with
``reference_policy``. Training runs as one Ray task holding the resource's CPUs.
"""

from collections.abc import Callable
from pathlib import Path

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from assets.ingest import image_markdown
from assets.release import release
from assets.resources import PyramidHome, RayResource, ReleaseStoreResource
from pipelines.fingerprint import code_version

PANDA_EMBODIMENT = "robosuite_panda"


class PolicyTrainingConfig(Config):
    pretrain_steps: int = Field(default=500, description="optimiser steps on the release's mixture")
    post_train_steps: int = Field(default=2000, description="then optimiser steps on the target embodiment's data")
    target: str = Field(default=PANDA_EMBODIMENT, description="the embodiment post-trained on and evaluated")
    batch_size: int = Field(default=32, description="frames per step, all from one dataset")
    learning_rate: float = Field(default=3e-4, description="peak AdamW learning rate")
    image_size: int = Field(default=64, description="square frames the policy sees (multiple of 16)")
    hidden: int = Field(default=96, description="token width; 96 is the CPU reference size")
    seed: int = Field(default=0, description="seeds weights, batches and the held-out split")
    device: str = Field(default="cpu", description="torch device: cpu, or cuda on a GPU node")
    tasks: list[str] = Field(default=["Lift"], description="robosuite Panda tasks evaluated closed loop")
    episodes: int = Field(default=10, description="closed-loop episodes per task (seeded scenes)")
    max_steps: int = Field(default=250, description="closed-loop step limit per episode")

    def phase(self, steps: int):
        from pipelines.training import TrainConfig

        return TrainConfig(
            steps=steps,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            warmup=min(100, steps // 10),
            seed=self.seed,
            device=self.device,
        )


def _pulled_release(home: PyramidHome, store: ReleaseStoreResource) -> Path:
    from pipelines.release.store import pull_release

    return pull_release(store.uri_for(home), "latest", home.home.pulled)


def _train(
    release_folder: Path,
    out: Path,
    config: PolicyTrainingConfig,
    layers: list[str] | None,
    on_log: Callable[[dict], None],
):
    """One variant (in a Ray task): pre-train and post-train, or reuse finished runs, then the open-loop
    figures on held-out episodes of the target embodiment and closed-loop success per task."""
    from policy.config import PolicyConfig
    from policy.evaluate import closed_loop, open_loop
    from policy.inference import ReferencePolicy
    from policy.train import train_reference_policy
    from schemas.pyramid import Layer

    chosen = {Layer(layer) for layer in layers} if layers is not None else None
    runs = train_reference_policy(
        release_folder,
        out,
        PolicyConfig(image_size=config.image_size, hidden=config.hidden),
        config.phase(config.pretrain_steps),
        config.phase(config.post_train_steps),
        {config.target},
        chosen,
        on_log=lambda phase, entry: on_log({"phase": phase, **entry}),
    )
    served = runs.served
    policy = ReferencePolicy(served.folder, device=config.device)
    evaluation = open_loop(policy, served.data, {config.target})
    closed = {task: closed_loop(policy, task, config.episodes, max_steps=config.max_steps) for task in config.tasks}
    return served.folder, served.sha256, runs.history(), runs.pretrain.data.skipped, evaluation, closed


def _run_folder(home: PyramidHome, release_folder: Path, variant: str) -> Path:
    return home.home.policies / release_folder.name / variant


@asset(
    group_name="policy",
    deps=[release],
    kinds={"pytorch", "safetensors"},
    code_version=code_version("policy.train", "policy.evaluate"),
    description="The reference GR00T-N1-style policy trained on the latest release, with its held-out figures",
)
def reference_policy(
    context: AssetExecutionContext,
    config: PolicyTrainingConfig,
    home: PyramidHome,
    store: ReleaseStoreResource,
    ray: RayResource,
) -> MaterializeResult:
    from pipelines.plots import open_loop_png, policy_training_png
    from schemas.embodiment import get_embodiment

    release_folder = _pulled_release(home, store)
    out = _run_folder(home, release_folder, "all")
    context.log.info(f"training on release {release_folder.name} into {out}")
    served, sha256, history, skipped, evaluation, closed = ray.call(
        context, _train, (release_folder, out, config, None)
    )
    names = get_embodiment(config.target).action_dim_names()
    plots = {
        name: image_markdown(f"open loop {name}", open_loop_png(*trace, names, f"{name}: held-out episode"))
        for name, trace in evaluation.traces.items()
    }
    mse, mae = evaluation.overall()
    return MaterializeResult(
        metadata={
            "release": release_folder.name,
            "checkpoint": MetadataValue.path(str(served)),
            "sha256": sha256,
            "final_loss": MetadataValue.float(round(history[-1]["loss"], 5)) if history else None,
            "loss_curve": image_markdown(
                "loss", policy_training_png(f"reference policy on {release_folder.name}", {"all": history})
            ),
            "open_loop_mse": MetadataValue.float(round(mse, 6)),
            "open_loop_mae": MetadataValue.float(round(mae, 6)),
            "open_loop_per_dataset": MetadataValue.json(
                {n: {"mse": evaluation.mse[n], "mae": evaluation.mae[n]} for n in evaluation.mse}
            ),
            **{f"open_loop_plot_{name}": plot for name, plot in plots.items()},
            **{
                f"closed_loop_success_{task}": MetadataValue.float(result.success_rate)
                for task, result in closed.items()
            },
            "closed_loop_episodes": config.episodes,
            "skipped_datasets": MetadataValue.json(skipped),
        }
    )


@asset(
    group_name="policy",
    deps=[reference_policy],
    kinds={"pytorch"},
    code_version=code_version("policy.train", "policy.evaluate"),
    description="How much each pyramid layer helps: the policy retrained without it on the same budget",
)
def layer_value(
    context: AssetExecutionContext,
    config: PolicyTrainingConfig,
    home: PyramidHome,
    store: ReleaseStoreResource,
    ray: RayResource,
) -> MaterializeResult:
    import json

    from pipelines.plots import layer_value_png, policy_training_png
    from pipelines.release.manifest import load_manifest
    from policy.data import NothingToTrainError

    release_folder = _pulled_release(home, store)
    layers = sorted({entry.layer.value for entry in load_manifest(release_folder).datasets})
    variants = {"all": None, **{f"without_{layer}": [x for x in layers if x != layer] for layer in layers}}
    rows, histories = [], {}
    for variant, kept in variants.items():
        context.log.info(f"{variant}: training on layers {layers if kept is None else kept}")
        try:
            _, sha256, history, _, evaluation, closed = ray.call(
                context, _train, (release_folder, _run_folder(home, release_folder, variant), config, kept)
            )
        except NothingToTrainError as error:  # e.g. the release holds nothing else than this layer
            context.log.warning(f"{variant}: not trained: {error}")
            continue
        histories[variant] = history
        mse, mae = evaluation.overall()
        rows.append(
            {
                "variant": variant,
                "open_loop_mse": mse,
                "open_loop_mae": mae,
                "sha256": sha256[:12],
                "success_rate": float(
                    sum(sum(r.successes) for r in closed.values())
                    / max(1, sum(len(r.successes) for r in closed.values()))
                ),
            }
        )
    baseline = next(r for r in rows if r["variant"] == "all")
    for row in rows:
        row["mse_change_vs_all"] = row["open_loop_mse"] - baseline["open_loop_mse"]
        row["success_change_vs_all"] = row["success_rate"] - baseline["success_rate"]
    table_path = home.home.policies / release_folder.name / "layer_value.json"
    table_path.write_text(json.dumps(rows, indent=2))
    lines = "\n".join(
        f"| {r['variant']} | {r['open_loop_mse']:.5f} | {r['mse_change_vs_all']:+.5f} | "
        f"{r['success_rate']:.2f} | {r['success_change_vs_all']:+.2f} |"
        for r in rows
    )
    return MaterializeResult(
        metadata={
            "release": release_folder.name,
            "budget_steps": f"{config.pretrain_steps} pre-training + {config.post_train_steps} post-training on {config.target}",
            "closed_loop": f"{config.episodes} episodes of {', '.join(config.tasks)} per variant",
            "table": MetadataValue.md(
                "| variant | open-loop MSE | change | success | change |\n|---|---|---|---|---|\n" + lines
            ),
            "rows": MetadataValue.json(rows),
            "table_file": MetadataValue.path(str(table_path)),
            "plot": image_markdown("layer value", layer_value_png(rows)),
            "loss_curves": image_markdown("loss curves", policy_training_png("layer-value variants", histories)),
        }
    )
