"""The one Dagster ``Definitions`` of pyramid (loaded by `dagster dev` via pyproject.toml)."""

from dagster import Definitions

from assets.embedded import embedded_human_videos, embedded_teleop_demos
from assets.ingest import human_video_datasets, oxe_datasets, teleop_datasets
from assets.labels import idm_labels, idm_model, latent_action_labels, latent_action_model
from assets.neural import generated_clips, instruction_matcher, neural_trajectories, video_model
from assets.policy import layer_value, reference_policy
from assets.release import nightly_release_job, nightly_release_schedule, pyramid, release
from assets.resources import PyramidHome, RayResource, ReleaseStoreResource
from assets.sim import sim_datasets
from assets.sources import source_partitions
from pipelines.runtime.parallel import RayConfig
from schemas import settings

settings.use_process_defaults()  # before an asset imports MuJoCo or the Hugging Face hub (they do so lazily)

home = PyramidHome(path=str(settings.pyramid_home().root), sources_file=str(settings.sources_file()))
store = ReleaseStoreResource(uri=settings.store_uri())

defs = Definitions(
    assets=[
        embedded_teleop_demos,
        embedded_human_videos,
        teleop_datasets,
        oxe_datasets,
        human_video_datasets,
        sim_datasets,
        latent_action_model,
        idm_model,
        latent_action_labels,
        idm_labels,
        video_model,
        generated_clips,
        instruction_matcher,
        neural_trajectories,
        pyramid,
        release,
        reference_policy,
        layer_value,
    ],
    jobs=[nightly_release_job],
    schedules=[nightly_release_schedule],
    sensors=[source_partitions],
    resources={
        "home": home,
        "ray": RayResource(workers=settings.ray_workers(RayConfig.workers), address=settings.ray_address()),
        "store": store,
    },
)
