"""The one Dagster ``Definitions`` of pyramid (loaded by `dagster dev` via pyproject.toml)."""

import os

from dagster import Definitions

from assets.resources import PyramidHome
from assets.teleop import teleop_datasets
from pipelines.config import DEFAULT_HOME, DEFAULT_SOURCES_FILE

defs = Definitions(
    assets=[teleop_datasets],
    resources={
        "home": PyramidHome(
            path=os.environ.get("PYRAMID_HOME", str(DEFAULT_HOME)),
            sources_file=os.environ.get("PYRAMID_SOURCES", str(DEFAULT_SOURCES_FILE)),
        )
    },
)
