"""Neural trajectories: an image-to-video model trained on one embodiment's teleop video, clips generated from
every teleop first frame with new instructions, and those clips labelled (IDM + latent actions), filtered and
written as the ``neural`` source of the synthetic layer.

``video_model``, ``instruction_matcher`` and the label models train as one Ray task each; generation and
labelling fan out per episode on Ray. Any diffusers image-to-video pipeline in a local folder can replace the
in-house model through ``GenerationAssetConfig.video_model``.
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
    asset,
)

from assets.config import run_config
from assets.ingest import SOURCE_ASSETS, dataset_result, image_markdown, quality_check_spec
from assets.labels import ALL_VIDEO, idm_model, latent_action_model
from assets.resources import PyramidHome, RayResource
from generators.video.config import (
    INSTRUCTION_MATCHER_TRAINING,
    VIDEO_TRAINING,
    GenerationConfig,
    GenerationSource,
    InstructionMatcherConfig,
    InstructionMatcherScoring,
    NeuralFilters,
    NeuralLabelling,
    VideoModelConfig,
    VideoModelScoring,
)
from pipelines.learning.training import TrainConfig
from pipelines.runtime.fingerprint import code_version
from schemas.options import from_values
from schemas.pyramid import SourceKind

BEATS_COPY_BASELINE = "beats_copy_baseline"
BEATS_CHANCE = "beats_chance"
MULTIPLIER_REACHED = "multiplier_reached"


VideoModelTrainingConfig = run_config("VideoModelTrainingConfig", VideoModelConfig, VIDEO_TRAINING, VideoModelScoring)
GenerationAssetConfig = run_config("GenerationAssetConfig", GenerationSource, GenerationConfig)
NeuralFilterConfig = run_config("NeuralFilterConfig", NeuralLabelling, NeuralFilters)
InstructionMatcherAssetConfig = run_config(
    "InstructionMatcherAssetConfig",
    NeuralLabelling,
    InstructionMatcherConfig,
    INSTRUCTION_MATCHER_TRAINING,
    InstructionMatcherScoring,
)


def _teleop_roots(home: PyramidHome, embodiment: str) -> list[str]:
    from pipelines.lerobot.inventory import summarise_home

    roots = [
        str(s.root) for s in summarise_home(home.home) if s.source == SourceKind.TELEOP and s.embodiment == embodiment
    ]
    if not roots:
        raise ValueError(f"no {embodiment} teleop datasets in {home.home.datasets} to learn video from")
    return roots


@asset(
    group_name="neural",
    deps=[AssetDep(SOURCE_ASSETS[SourceKind.TELEOP], partition_mapping=AllPartitionMapping())],
    kinds={"pytorch", "diffusers"},
    code_version=code_version("generators.video.train"),
    check_specs=[
        AssetCheckSpec(
            BEATS_COPY_BASELINE,
            asset="video_model",
            description="held-out prediction error below copying the first frame",
        )
    ],
)
def video_model(
    context: AssetExecutionContext, config: VideoModelTrainingConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """The in-house image-to-video model (diffusers Latte transformer + flow matching), scored on held-out teleop."""
    from generators.video.model import save_video_pipeline
    from generators.video.train import train_video_model
    from pipelines.plots import clip_strip_png, label_quality_png

    roots = _teleop_roots(home, config.embodiment)
    context.log.info(f"training on {roots}")
    generation = GenerationConfig(sampling_steps=config.sampling_steps, seed=config.seed, device=config.device)
    training = from_values(TrainConfig, config)
    trained = ray.call(
        context, train_video_model, (roots, from_values(VideoModelConfig, config), training, generation, config.holdout)
    )
    evaluation = trained.evaluation
    folder = home.home.video_model(config.embodiment)
    sha256 = save_video_pipeline(folder, trained.pipeline, evaluation.to_dict())
    scores = {
        "predicted": evaluation.psnr_db,
        "sampled": evaluation.sample_psnr_db,
        "copy first frame": evaluation.copy_first_frame_psnr_db,
    }
    plot = label_quality_png(
        "video model: held-out continuations",
        trained.history,
        scores,
        evaluation.copy_first_frame_psnr_db,
        score="PSNR (dB) against the real frames",
    )
    check = AssetCheckResult(
        check_name=BEATS_COPY_BASELINE,
        passed=evaluation.beats_copy_baseline,
        severity=AssetCheckSeverity.WARN,
        metadata={"mse": evaluation.mse, "copy_first_frame_mse": evaluation.copy_first_frame_mse},
    )
    return MaterializeResult(
        metadata={
            "pipeline": MetadataValue.path(str(folder)),
            "sha256": sha256,
            "held_out_mse": MetadataValue.float(round(evaluation.mse, 5)),
            "copy_first_frame_mse": MetadataValue.float(round(evaluation.copy_first_frame_mse, 5)),
            "held_out_psnr_db": MetadataValue.float(round(evaluation.psnr_db, 2)),
            "held_out_sample_mse": MetadataValue.float(round(evaluation.sample_mse, 5)),
            "held_out_sample_psnr_db": MetadataValue.float(round(evaluation.sample_psnr_db, 2)),
            "copy_first_frame_psnr_db": MetadataValue.float(round(evaluation.copy_first_frame_psnr_db, 2)),
            "first_frame_psnr_db": MetadataValue.float(round(evaluation.first_frame_psnr_db, 2)),
            "held_out_windows": evaluation.windows,
            "training_clips": trained.clips,
            "skipped": MetadataValue.json(trained.skipped),
            "quality_plot": image_markdown("video model quality", plot),
            "held_out_sample": image_markdown("real vs generated", clip_strip_png(trained.samples)),
        },
        check_results=[check],
    )


@asset(
    group_name="neural",
    deps=ALL_VIDEO,
    kinds={"pytorch", "safetensors"},
    code_version=code_version("generators.video.instruction_match"),
    check_specs=[
        AssetCheckSpec(
            BEATS_CHANCE,
            asset="instruction_matcher",
            description="held-out real clips match their true instruction above a swapped one more often than chance",
        )
    ],
)
def instruction_matcher(
    context: AssetExecutionContext, config: InstructionMatcherAssetConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """Video-text matcher trained on the embodiment's instructed teleop and sim episodes; its threshold, measured
    on held-out ones, filters generated clips that do not do what their instruction says."""
    from generators.video.instruction_match import save_matcher, train_matcher
    from pipelines.learning.labelled import video_datasets
    from pipelines.plots import label_quality_png

    roots = [str(s.root) for s in video_datasets(home.home, config.embodiment)]
    if not roots:
        raise ValueError(f"no {config.embodiment} datasets in {home.home.datasets} to train its instruction matcher on")
    context.log.info(f"training on {roots}")
    arguments = (roots, from_values(InstructionMatcherConfig, config), from_values(TrainConfig, config))
    trained = ray.call(context, train_matcher, (*arguments, config.holdout, config.keep_real))
    evaluation = trained.evaluation
    folder = home.home.instruction_matcher(config.embodiment)
    sha256 = save_matcher(folder, trained)
    plot = label_quality_png(
        f"instruction matcher {config.embodiment}: held-out real clips",
        trained.history,
        {
            "true above swapped": evaluation.pair_accuracy,
            "true kept": evaluation.kept_true,
            "swapped kept": evaluation.kept_swapped,
        },
        0.5,
        score="share (chance 0.5 for true above swapped)",
    )
    return MaterializeResult(
        metadata={
            "checkpoint": MetadataValue.path(str(folder)),
            "sha256": sha256,
            "pair_accuracy": MetadataValue.float(round(evaluation.pair_accuracy, 4)),
            "threshold": MetadataValue.float(round(evaluation.threshold, 4)),
            "kept_true": MetadataValue.float(round(evaluation.kept_true, 4)),
            "kept_swapped": MetadataValue.float(round(evaluation.kept_swapped, 4)),
            "held_out_windows": evaluation.windows,
            "instructions": MetadataValue.json(trained.known),
            "training_clips": trained.clips,
            "skipped": MetadataValue.json(trained.skipped),
            "quality_plot": image_markdown("instruction matcher quality", plot),
        },
        check_results=[
            AssetCheckResult(
                check_name=BEATS_CHANCE,
                passed=evaluation.pair_accuracy > 0.5,
                severity=AssetCheckSeverity.WARN,
                metadata={"pair_accuracy": evaluation.pair_accuracy},
            )
        ],
    )


@asset(
    group_name="neural",
    deps=[video_model, instruction_matcher],
    kinds={"diffusers", "lerobot"},
    code_version=code_version("generators.video.generate"),
)
def generated_clips(
    context: AssetExecutionContext, config: GenerationAssetConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """Clips from every teleop first frame under new instructions, enough for the multiplier (before filtering);
    with ``best_of`` above 1, each the candidate the instruction matcher matches best with its prompt."""
    from generators.video.generate import generate_clips
    from pipelines.lerobot.reader import LeRobotSource
    from pipelines.plots import clip_strip_png

    folder = config.video_model or str(home.home.video_model(config.embodiment))
    roots = _teleop_roots(home, config.embodiment)
    context.log.info(f"generating from the first frames of {roots} with {folder}")

    def log_progress(done: int) -> None:
        if done % 100 == 0:
            context.log.info(f"{done} clips written")

    report = generate_clips(
        roots,
        home.home.generated_clips(config.embodiment),
        folder,
        from_values(GenerationConfig, config),
        matcher_checkpoint=home.home.instruction_matcher(config.embodiment),
        ray=ray.config(),
        on_item=log_progress,
    )
    written = report.written
    source = LeRobotSource(written.root)
    samples = {
        episode.instruction: next(iter(episode.frames.values()))
        for episode in map(source.read_episode, source.episode_indices[:4])
    }
    reasons = "\n".join(f"- `{r.episode_id}` ({r.field}): {r.reason}" for r in written.rejected) or "none"
    context.log.info(f"{written.episodes} clips, {written.hours:.4f} h from {report.teleop_hours:.4f} h of teleop")
    return MaterializeResult(
        metadata={
            "path": MetadataValue.path(str(written.root)),
            "video_model": MetadataValue.path(folder),
            "video_model_sha256": report.model_sha256,
            "clips": written.episodes,
            "frames": written.frames,
            "teleop_hours": MetadataValue.float(round(report.teleop_hours, 5)),
            "generated_hours": MetadataValue.float(round(report.generated_hours, 5)),
            "multiplier_before_filtering": MetadataValue.float(round(report.multiplier, 2)),
            "best_of": config.best_of,
            "quarantined": len(written.rejected),
            "quarantine_reasons": MetadataValue.md(reasons),
            "sample_clips": image_markdown("generated clips", clip_strip_png(samples)),
        }
    )


@asset(
    group_name="neural",
    deps=[
        generated_clips,
        AssetDep(idm_model, partition_mapping=AllPartitionMapping()),
        latent_action_model,
        instruction_matcher,
    ],
    kinds={"lerobot"},
    code_version=code_version("generators.video.neural"),
    check_specs=[
        quality_check_spec("neural_trajectories"),
        AssetCheckSpec(
            MULTIPLIER_REACHED,
            asset="neural_trajectories",
            description="kept neural hours / teleop hours at or above the multiplier asked for",
        ),
    ],
)
def neural_trajectories(
    context: AssetExecutionContext, config: NeuralFilterConfig, home: PyramidHome, ray: RayResource
) -> MaterializeResult:
    """Generated clips labelled by the IDM and latent action model, filtered, as the ``neural`` source."""
    from generators.video.neural import label_neural_trajectories, multiplier_outcome

    clips = home.home.generated_clips(config.embodiment)
    filters = from_values(NeuralFilters, config)
    report = label_neural_trajectories(
        clips,
        home.home.dataset(SourceKind.NEURAL, config.embodiment),
        home.home.idm(config.embodiment),
        home.home.latent_action_model(),
        filters,
        matcher_checkpoint=home.home.instruction_matcher(config.embodiment),
        ray=ray.config(),
    )
    outcome = multiplier_outcome(clips, report)
    context.log.info(
        f"{report.episodes} kept, rejected {outcome.rejections}; kept share {outcome.kept_share}; "
        f"multiplier {outcome.multiplier:.2f} (asked {outcome.asked})"
    )
    result = dataset_result(
        report,
        {
            "labelled_from": MetadataValue.path(str(clips)),
            "teleop_hours": MetadataValue.float(round(outcome.teleop_hours, 5)),
            "multiplier": MetadataValue.float(round(outcome.multiplier, 2)),
            "multiplier_requested": outcome.asked,
            "rejections": MetadataValue.json(outcome.rejections),
            "kept_share": MetadataValue.json(outcome.kept_share),
        },
    )
    check = AssetCheckResult(
        check_name=MULTIPLIER_REACHED,
        passed=outcome.reached,
        severity=AssetCheckSeverity.WARN,
        metadata={"multiplier": outcome.multiplier, "asked": outcome.asked, "why_not": outcome.why_not()},
    )
    return MaterializeResult(metadata=result.metadata, check_results=[*result.check_results, check])
