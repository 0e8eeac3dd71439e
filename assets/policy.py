"""The reference policy on the latest published release, and what each pyramid layer is worth to it.

Runs live in ``<home>/policies/<release>/<variant>``; a finished run with the same settings is reused, so
``layer_value`` does not retrain the full-pyramid policy it shares with ``reference_policy``. Training runs as
one Ray task holding the resource's CPUs; closed-loop episodes spread over Ray. The logic lives in
``policy.layer_value``; these assets wire it to Dagster and show its figures.
"""

from pathlib import Path
from typing import TYPE_CHECKING

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.config import run_config
from assets.ingest import image_markdown
from assets.release import release
from assets.resources import PyramidHome, RayResource, ReleaseStoreResource, progress_line
from pipelines.runtime.fingerprint import code_version
from policy.config import ClosedLoopSettings, LayerValueSettings, PolicyConfig, TrainingRecipe

if TYPE_CHECKING:  # the domain module imports torch and robosuite: only when an asset runs
    from policy.layer_value import Variant, VariantScore

PolicyRunConfig = run_config("PolicyRunConfig", TrainingRecipe, PolicyConfig, ClosedLoopSettings)
LayerValueConfig = run_config("LayerValueConfig", TrainingRecipe, PolicyConfig, ClosedLoopSettings, LayerValueSettings)


def _pulled_release(home: PyramidHome, store: ReleaseStoreResource) -> Path:
    from pipelines.release.store import pull_release

    return pull_release(store.uri_for(home), "latest", home.home.pulled)


def _score(
    context: AssetExecutionContext,
    release_folder: Path,
    variants: "list[Variant]",
    config: PolicyRunConfig,
    home: PyramidHome,
    ray: RayResource,
) -> "list[VariantScore]":
    """Train and score each variant on the release; a variant with nothing to train on is logged."""
    from policy.data import NothingToTrainError, load_release
    from policy.layer_value import score_variant
    from schemas.options import from_values

    model, recipe = from_values(PolicyConfig, config), from_values(TrainingRecipe, config)
    evaluation = load_release(
        release_folder, model, seed=recipe.seed, embodiments=set(recipe.target), log=context.log.info
    )
    scores = []
    for variant in variants:
        out = home.home.policies / release_folder.name / variant.name
        context.log.info(f"{variant.name}: training on {variant.mixture.describe()} into {out}")
        try:
            scores.append(
                score_variant(
                    variant,
                    release_folder,
                    out,
                    model,
                    recipe,
                    from_values(ClosedLoopSettings, config),
                    evaluation,
                    ray.config(),
                    log=context.log.info,
                    on_log=lambda entry: context.log.info(progress_line(entry)),
                )
            )
        except NothingToTrainError as error:  # e.g. the release holds no real-robot data
            context.log.warning(f"{variant.name}: not trained: {error}")
    return scores


def _closed_loop_metadata(score: "VariantScore") -> dict[str, MetadataValue]:
    from pipelines.plots import clip_strip_png

    metadata = {}
    for task, result in score.closed.items():
        low, high = result.interval
        metadata[f"closed_loop_success_{task}"] = MetadataValue.float(result.success_rate)
        metadata[f"closed_loop_interval_{task}"] = f"[{low:.2f}, {high:.2f}] (Wilson 95%, {len(result.seeds)} episodes)"
        if result.videos:
            clips = {f"{task} seed {seed}": frames for seed, frames in result.videos.items()}
            metadata[f"rollouts_{task}"] = image_markdown(f"{task} rollouts", clip_strip_png(clips))
    metadata["rollout_videos"] = MetadataValue.path(str(score.trained.folder.parent / "videos"))
    return metadata


@asset(
    group_name="policy",
    deps=[release],
    kinds={"pytorch", "safetensors"},
    code_version=code_version("policy.layer_value"),
    description="The reference GR00T-N1-style policy trained on the latest release, with its held-out figures",
)
def reference_policy(
    context: AssetExecutionContext,
    config: PolicyRunConfig,
    home: PyramidHome,
    store: ReleaseStoreResource,
    ray: RayResource,
) -> MaterializeResult:
    from policy.data import Mixture
    from policy.layer_value import FULL, Variant
    from policy.plots import open_loop_png, policy_training_png
    from schemas.embodiment import get_embodiment

    release_folder = _pulled_release(home, store)
    (score,) = _score(context, release_folder, [Variant(FULL, Mixture(), FULL)], config, home, ray)
    evaluation = score.open_loop
    plots = {
        name: image_markdown(
            f"open loop {name}",
            open_loop_png(*trace, get_embodiment(config.target[0]).action_dim_names(), f"{name}: held-out episode"),
        )
        for name, trace in evaluation.traces.items()
    }
    mse, mae = evaluation.overall()
    history = score.trained.history
    return MaterializeResult(
        metadata={
            "release": release_folder.name,
            "checkpoint": MetadataValue.path(str(score.trained.folder)),
            "sha256": score.trained.sha256,
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
            **_closed_loop_metadata(score),
            "skipped_datasets": MetadataValue.json(score.trained.skipped),
        }
    )


@asset(
    group_name="policy",
    deps=[reference_policy],
    kinds={"pytorch"},
    code_version=code_version("policy.layer_value"),
    description="What each pyramid layer is worth: the policy trained on each mixture, with 95% intervals",
)
def layer_value(
    context: AssetExecutionContext,
    config: LayerValueConfig,
    home: PyramidHome,
    store: ReleaseStoreResource,
    ray: RayResource,
) -> MaterializeResult:
    from pipelines.release.manifest import load_manifest
    from pipelines.runtime.atomic import atomic_write_text
    from policy.layer_value import layer_value_rows, layer_value_table, layer_value_variants, within_noise
    from policy.plots import layer_value_png, policy_training_png
    from schemas.pyramid import LayerValueSummary

    release_folder = _pulled_release(home, store)
    present = {entry.source for entry in load_manifest(release_folder).datasets}
    variants = layer_value_variants(present, config.synthetic_shares)
    scores = _score(context, release_folder, variants, config, home, ray)
    rows = layer_value_rows(scores)
    table_path = home.home.layer_value(release_folder.name)  # the next pyramid build puts it in its manifest
    summary = LayerValueSummary(measured_on=release_folder.name, within_noise=within_noise(rows), rows=rows)
    atomic_write_text(table_path, summary.model_dump_json(indent=2))
    return MaterializeResult(
        metadata={
            "release": release_folder.name,
            "budget_steps": f"{config.pretrain_steps} pre-training + {config.post_train_steps} post-training "
            f"on {', '.join(config.target)}",
            "closed_loop": f"{config.episodes} seeded episodes of {', '.join(config.tasks)} per variant",
            "table": MetadataValue.md(layer_value_table(rows, config.tasks)),
            "within_noise": MetadataValue.json(summary.within_noise),
            "rows": MetadataValue.json(rows),
            "table_file": MetadataValue.path(str(table_path)),
            "plot": image_markdown("layer value", layer_value_png(rows, config.tasks)),
            "loss_curves": image_markdown(
                "loss curves",
                policy_training_png("layer-value variants", {s.variant.name: s.trained.history for s in scores}),
            ),
        }
    )
