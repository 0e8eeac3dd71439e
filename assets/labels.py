"""Labels for action-less video: the latent action model and one inverse dynamics model per embodiment, each
scored on held-out episodes, and labelled copies of every human-video source.

The models train on the pyramid home's own datasets (labelled copies excluded) as one Ray task holding the
resource's CPUs; labelling fans out per episode on Ray. A model's held-out figures are its metadata, with a
plot, and its ``label_quality`` check holds them to floors (a warning, not a stop: a weak label is still
recorded with its figures, and the labelled datasets carry the model's hash).
"""

from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    StaticPartitionsDefinition,
    asset,
)

from assets.config import run_config
from assets.ingest import (
    SOURCE_ASSETS,
    SOURCE_PARTITIONS,
    dataset_result,
    human_video_datasets,
    image_markdown,
    quality_check_spec,
)
from assets.resources import PyramidHome, RayResource
from assets.sim import sim_datasets
from idm.config import IDM_TRAINING, IDMConfig, IDMLabelling, IDMScoring
from latent_actions.config import LATENT_ACTION_TRAINING, LatentActionConfig, LatentActionScoring
from pipelines.learning.training import TrainConfig
from pipelines.runtime.fingerprint import code_version
from schemas.options import from_values
from schemas.pyramid import SourceKind

IDM_EMBODIMENTS = StaticPartitionsDefinition(["robosuite_panda"])
LABEL_QUALITY = "label_quality"
ALL_VIDEO = [AssetDep(a, partition_mapping=AllPartitionMapping()) for a in (*SOURCE_ASSETS.values(), sim_datasets)]


LatentActionModelConfig = run_config(
    "LatentActionModelConfig", LatentActionConfig, LATENT_ACTION_TRAINING, LatentActionScoring
)
IDMModelConfig = run_config("IDMModelConfig", IDMConfig, IDM_TRAINING, IDMScoring)
IDMLabelConfig = run_config("IDMLabelConfig", IDMLabelling)


def _r2_table(names: list[str], values: list[float]) -> MetadataValue:
    rows = "\n".join(f"| {name} | {value:.3f} |" for name, value in zip(names, values, strict=True))
    return MetadataValue.md(f"| action dim | held-out R2 |\n|---|---|\n{rows}")


@asset(
    group_name="label",
    deps=ALL_VIDEO,
    kinds={"pytorch", "safetensors"},
    code_version=code_version("latent_actions.train"),
    check_specs=[
        AssetCheckSpec(
            LABEL_QUALITY,
            asset="latent_action_model",
            description="held-out probe R2 and codebook perplexity at or above their floors",
        )
    ],
)
def latent_action_model(
    context: AssetExecutionContext, config: LatentActionModelConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """LAPA-style VQ-VAE latent action model trained on all the pyramid's video, scored on held-out episodes."""
    from latent_actions.label import save_latent_action_model
    from latent_actions.train import train_latent_action_model
    from pipelines.learning.labelled import video_datasets
    from pipelines.plots import label_quality_png
    from schemas.embodiment import get_embodiment

    roots = [str(s.root) for s in video_datasets(home.home)]
    model_config = from_values(LatentActionConfig, config)
    context.log.info(f"training on {len(roots)} datasets: {roots}")
    trained = ray.call(
        context,
        train_latent_action_model,
        (roots, model_config, from_values(TrainConfig, config), config.probe_embodiment, config.holdout),
    )
    evaluation = trained.evaluation
    sha256 = save_latent_action_model(home.home.latent_action_model(), trained.model, evaluation.to_dict())
    names = get_embodiment(config.probe_embodiment).action_dim_names()
    plot = label_quality_png(
        f"latent actions: linear probe to {config.probe_embodiment} actions",
        trained.history,
        dict(zip(names, evaluation.probe_r2_per_dim, strict=True)),
        config.probe_r2_floor,
    )
    passed = evaluation.probe_r2 >= config.probe_r2_floor and evaluation.perplexity >= config.perplexity_floor
    check = AssetCheckResult(
        check_name=LABEL_QUALITY,
        passed=passed,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "probe_r2": evaluation.probe_r2,
            "probe_r2_floor": config.probe_r2_floor,
            "perplexity": evaluation.perplexity,
            "perplexity_floor": config.perplexity_floor,
        },
    )
    return MaterializeResult(
        metadata={
            "checkpoint": MetadataValue.path(str(home.home.latent_action_model())),
            "sha256": sha256,
            "psnr_db": MetadataValue.float(round(evaluation.psnr, 2)),
            "copy_baseline_psnr_db": MetadataValue.float(round(evaluation.copy_psnr, 2)),
            "perplexity": MetadataValue.float(round(evaluation.perplexity, 3)),
            "codes_used": evaluation.codes_used,
            "probe_r2": MetadataValue.float(round(evaluation.probe_r2, 4)),
            "probe_r2_per_dim": _r2_table(names, evaluation.probe_r2_per_dim),
            "held_out_pairs": evaluation.held_out_pairs,
            "training_clips": trained.clips,
            "action_weight": config.action_weight,
            "grounded_in": MetadataValue.json(trained.grounded_in),
            "skipped": MetadataValue.json(trained.skipped),
            "quality_plot": image_markdown("latent action quality", plot),
        },
        check_results=[check],
    )


@asset(
    group_name="label",
    deps=ALL_VIDEO,
    partitions_def=IDM_EMBODIMENTS,
    kinds={"pytorch", "safetensors"},
    code_version=code_version("idm.train"),
    check_specs=[AssetCheckSpec(LABEL_QUALITY, asset="idm_model", description="held-out R2 at or above its floor")],
)
def idm_model(
    context: AssetExecutionContext, config: IDMModelConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """Inverse dynamics model of one embodiment, trained on its teleop and sim episodes, scored on held-out ones."""
    from idm.label import save_idm
    from idm.train import train_idm
    from pipelines.learning.labelled import video_datasets
    from pipelines.plots import label_quality_png
    from schemas.embodiment import get_embodiment

    embodiment = get_embodiment(context.partition_key)
    roots = [str(s.root) for s in video_datasets(home.home, embodiment.name)]
    if not roots:
        raise ValueError(f"no {embodiment.name} datasets in {home.home.datasets} to train its IDM on")
    model_config = from_values(
        IDMConfig, config, embodiment=embodiment.name, camera=embodiment.cameras[0], action_dim=embodiment.action_dim
    )
    context.log.info(f"training on {roots}")
    trained = ray.call(context, train_idm, (roots, model_config, from_values(TrainConfig, config), config.holdout))
    evaluation = trained.evaluation
    folder = home.home.idm(embodiment.name)
    sha256 = save_idm(folder, trained.model, trained.normaliser, evaluation.to_dict())
    names = embodiment.action_dim_names()
    plot = label_quality_png(
        f"IDM {embodiment.name}: labels of held-out episodes",
        trained.history,
        dict(zip(names, evaluation.r2_per_dim, strict=True)),
        config.r2_floor,
    )
    check = AssetCheckResult(
        check_name=LABEL_QUALITY,
        passed=evaluation.r2 >= config.r2_floor,
        severity=AssetCheckSeverity.WARN,
        metadata={"r2": evaluation.r2, "r2_floor": config.r2_floor},
    )
    return MaterializeResult(
        metadata={
            "checkpoint": MetadataValue.path(str(folder)),
            "sha256": sha256,
            "r2": MetadataValue.float(round(evaluation.r2, 4)),
            "r2_per_dim": _r2_table(names, evaluation.r2_per_dim),
            "r2_per_dataset": MetadataValue.json({k: round(v, 4) for k, v in evaluation.r2_per_dataset.items()}),
            "r2_per_source": MetadataValue.json({k: round(v, 4) for k, v in evaluation.r2_per_source.items()}),
            "confidence_error_correlation": MetadataValue.float(round(evaluation.confidence_error_correlation, 3)),
            "held_out_frames": evaluation.held_out_frames,
            "training_clips": trained.clips,
            "skipped": MetadataValue.json(trained.skipped),
            "quality_plot": image_markdown("IDM quality", plot),
        },
        check_results=[check],
    )


@asset(
    group_name="label",
    deps=[latent_action_model, human_video_datasets],
    partitions_def=SOURCE_PARTITIONS[SourceKind.HUMAN_VIDEO],
    kinds={"lerobot"},
    code_version=code_version("latent_actions.label"),
    check_specs=[quality_check_spec("latent_action_labels")],
)
def latent_action_labels(context: AssetExecutionContext, home: PyramidHome, ray: RayResource) -> MaterializeResult:
    """A human-video source with latent actions per frame (the ``latent_actions`` embodiment)."""
    from latent_actions.label import label_latent_actions

    name = context.partition_key
    root = home.home.dataset(SourceKind.HUMAN_VIDEO, name)
    destination = home.home.dataset(SourceKind.HUMAN_VIDEO, f"{name}_latent_actions")
    report = label_latent_actions(root, destination, home.home.latent_action_model(), ray=ray.config())
    context.log.info(f"{name}: {report.episodes} clips labelled, {len(report.rejected)} quarantined")
    return dataset_result(report, {"labelled_from": MetadataValue.path(str(root))})


@asset(
    group_name="label",
    deps=[AssetDep(idm_model, partition_mapping=AllPartitionMapping()), human_video_datasets],
    partitions_def=SOURCE_PARTITIONS[SourceKind.HUMAN_VIDEO],
    kinds={"lerobot"},
    code_version=code_version("idm.label"),
    check_specs=[quality_check_spec("idm_labels")],
)
def idm_labels(
    context: AssetExecutionContext, config: IDMLabelConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """A human-video source with IDM actions of one embodiment per frame and a per-frame confidence."""
    from idm.label import label_idm_actions

    name = context.partition_key
    root = home.home.dataset(SourceKind.HUMAN_VIDEO, name)
    destination = home.home.dataset(SourceKind.HUMAN_VIDEO, f"{name}_idm_{config.embodiment}")
    report = label_idm_actions(
        root,
        destination,
        home.home.idm(config.embodiment),
        min_confidence=config.min_confidence,
        ray=ray.config(),
    )
    context.log.info(f"{name}: {report.episodes} clips labelled, {len(report.rejected)} quarantined")
    return dataset_result(report, {"labelled_from": MetadataValue.path(str(root))})
