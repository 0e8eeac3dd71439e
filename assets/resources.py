"""Resources shared by pyramid assets."""

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from pipelines.config import SourcesConfig, discover_drop_sources, load_sources
from pipelines.parallel import RayConfig
from schemas.pyramid import SourceKind

__all__ = ["PyramidHome", "RayResource", "ReleaseStoreResource"]


class PyramidHome(ConfigurableResource):
    """The pyramid home: where datasets are materialised, and the sources file that declares inputs."""

    path: str = Field(description="root folder for every dataset pyramid materialises")
    sources_file: str = Field(description="YAML file declaring the source datasets (see sources.yaml)")

    def sources(self) -> SourcesConfig:
        """Sources declared in the sources file, plus those dropped into ``<home>/drop`` (see
        ``discover_drop_sources``)."""
        declared = load_sources(Path(self.sources_file), Path(self.path))
        return declared.merged(discover_drop_sources(self.drop_dir))

    @property
    def home(self) -> Path:
        return Path(self.path)

    @property
    def drop_dir(self) -> Path:
        return Path(self.path) / "drop"

    def dataset_dir(self, kind: SourceKind, name: str) -> Path:
        return Path(self.path) / "datasets" / kind.value / name


class RayResource(ConfigurableResource):
    """Where per-episode ingest work runs: a local Ray with ``workers`` CPUs, or a running cluster."""

    workers: int = Field(default=2, description="Ray tasks in flight and CPUs of the local Ray; 0 runs in-process")
    address: str | None = Field(default=None, description="running cluster address (host:6379); None: local Ray")

    def config(self) -> RayConfig | None:
        return RayConfig(workers=self.workers, address=self.address) if self.workers > 0 else None


class ReleaseStoreResource(ConfigurableResource):
    """Where releases are published: any fsspec URI (``s3://bucket/prefix``, a folder); credentials come from
    the environment as usual for that storage (e.g. ``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``)."""

    uri: str | None = Field(default=None, description="release store URI; None: <home>/store")
    keep: int = Field(default=0, ge=0, description="after publishing keep only the N newest releases; 0 keeps all")

    def uri_for(self, home: PyramidHome) -> str:
        return self.uri or str(home.home / "store")
