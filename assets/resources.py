"""Resources shared by pyramid assets."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import AssetExecutionContext, ConfigurableResource
from pydantic import Field

from pipelines.ingest.config import SourcesConfig, source_origins
from pipelines.runtime.parallel import RayConfig, ray_call
from schemas.home import Home

__all__ = ["PyramidHome", "RayResource", "ReleaseStoreResource"]


class PyramidHome(ConfigurableResource):
    """The pyramid home: where datasets are materialised, and the sources file that declares inputs."""

    path: str = Field(description="root folder for every dataset pyramid materialises")
    sources_file: str = Field(description="YAML file declaring the source datasets (see sources.yaml)")

    def sources(self) -> SourcesConfig:
        """Sources declared in the sources file, in the home's source list (``pyramid ingest``, ``pyramid sources
        add``) and dropped into ``<home>/drop``; the first declaration of a name wins."""
        found: dict[str, list] = {kind: [] for kind in SourcesConfig.model_fields}
        for kind, source, _ in source_origins(Path(self.sources_file), self.home):
            found[kind.value].append(source)
        return SourcesConfig(**found)

    @property
    def home(self) -> Home:
        """This home's folders (``schemas.home.Home``)."""
        return Home(Path(self.path))


class RayResource(ConfigurableResource):
    """Where per-episode work and model training run: a local Ray with ``workers`` CPUs, or a running cluster."""

    workers: int = Field(default=2, description="Ray tasks in flight and CPUs of the local Ray; 0 runs in-process")
    address: str | None = Field(default=None, description="running cluster address (host:6379); None: local Ray")

    def config(self) -> RayConfig | None:
        return RayConfig(workers=self.workers, address=self.address) if self.workers > 0 else None

    def call(self, context: AssetExecutionContext, fn: Callable[..., Any], args: tuple) -> Any:
        """``fn(*args, on_log=...)`` as one Ray task holding the workers' CPUs (e.g. a model's training); what it
        reports through ``on_log`` (the loss every few steps) goes to the run's log as the task runs."""
        return ray_call(fn, args, self.config(), on_log=lambda entry: context.log.info(progress_line(entry)))


def progress_line(entry: dict[str, Any]) -> str:
    """``step 50: loss 0.0123, lr 0.001`` from a training history entry."""
    figures = ", ".join(
        f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
        for name, value in entry.items()
        if name != "step"
    )
    return f"step {entry.get('step')}: {figures}"


class ReleaseStoreResource(ConfigurableResource):
    """Where releases are published: any fsspec URI (``s3://bucket/prefix``, a folder); credentials come from
    the environment as usual for that storage (e.g. ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``)."""

    uri: str | None = Field(default=None, description="release store URI; None: <home>/store")
    keep: int = Field(default=0, ge=0, description="after publishing keep only the N newest releases; 0 keeps all")

    def uri_for(self, home: PyramidHome) -> str:
        return self.uri or str(home.home.store)
