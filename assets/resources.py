"""Resources shared by pyramid assets."""

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from pipelines.config import SourcesConfig, load_sources
from pipelines.parallel import RayConfig
from schemas.pyramid import SourceKind

__all__ = ["PyramidHome", "RayResource"]


class PyramidHome(ConfigurableResource):
    """The pyramid home: where datasets are materialised, and the sources file that declares inputs."""

    path: str = Field(description="root folder for every dataset pyramid materialises")
    sources_file: str = Field(description="YAML file declaring the source datasets (see sources.yaml)")

    def sources(self) -> SourcesConfig:
        return load_sources(Path(self.sources_file), Path(self.path))

    def dataset_dir(self, kind: SourceKind, name: str) -> Path:
        return Path(self.path) / "datasets" / kind.value / name


class RayResource(ConfigurableResource):
    """Where per-episode ingest work runs: a local Ray with ``workers`` CPUs, or a running cluster."""

    workers: int = Field(default=2, description="Ray tasks in flight and CPUs of the local Ray; 0 runs in-process")
    address: str | None = Field(default=None, description="running cluster address (host:6379); None: local Ray")

    def config(self) -> RayConfig | None:
        return RayConfig(workers=self.workers, address=self.address) if self.workers > 0 else None
