"""Resources shared by pyramid assets."""

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from pipelines.config import SourcesConfig, load_sources
from schemas.pyramid import SourceKind

__all__ = ["PyramidHome"]


class PyramidHome(ConfigurableResource):
    """The pyramid home: where datasets are materialised, and the sources file that declares inputs."""

    path: str = Field(description="root folder for every dataset pyramid materialises")
    sources_file: str = Field(description="YAML file declaring the source datasets (see sources.yaml)")

    def sources(self) -> SourcesConfig:
        return load_sources(Path(self.sources_file), Path(self.path))

    def dataset_dir(self, kind: SourceKind, name: str) -> Path:
        return Path(self.path) / "datasets" / kind.value / name
