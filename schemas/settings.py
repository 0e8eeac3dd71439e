"""Every environment variable pyramid reads, read here and nowhere else.

The values are read when asked for, not at import, so a process (a test, a Ray worker) sees the environment
it runs in.
"""

from __future__ import annotations

import os
from pathlib import Path

from schemas.home import Home

__all__ = [
    "DEFAULT_HOME",
    "DEFAULT_SOURCES_FILE",
    "PROCESS_DEFAULTS",
    "REPO_ROOT",
    "dagster_home",
    "embodiment_path",
    "pyramid_home",
    "ray_address",
    "ray_in_process_seconds",
    "ray_workers",
    "serve_token",
    "sources_file",
    "store_uri",
    "use_process_defaults",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO_ROOT / ".pyramid"
DEFAULT_SOURCES_FILE = REPO_ROOT / "sources.yaml"


PROCESS_DEFAULTS = {  # what every pyramid process needs from its environment, unless the user set otherwise
    "HF_HUB_OFFLINE": "1",  # nothing downloads at run time
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights" bar on every model load is not progress
    "MUJOCO_GL": "osmesa",  # headless rendering; egl where a GPU renders
    "PYOPENGL_PLATFORM": "osmesa",
    "RAY_AUTH_MODE": "disabled",  # a cluster's own mode; a local Ray pyramid starts uses a token
}


def use_process_defaults() -> None:
    """Set ``PROCESS_DEFAULTS`` where the environment leaves them unset. Called by every entry point (CLI,
    Dagster definitions, tests), and by the generators package and the language encoder before they import
    MuJoCo or the Hugging Face hub, so a script or Ray worker gets them too."""
    for name, value in PROCESS_DEFAULTS.items():
        os.environ.setdefault(name, value)


def pyramid_home() -> Home:
    """``PYRAMID_HOME``: where datasets, models, releases and the user's embodiments and sources live."""
    return Home(Path(os.environ.get("PYRAMID_HOME") or DEFAULT_HOME))


def dagster_home() -> Path:
    """``DAGSTER_HOME``: the Dagster instance's folder (default ``<home>/dagster``, as ``make setup`` makes it)."""
    return Path(os.environ.get("DAGSTER_HOME") or pyramid_home().dagster)


def sources_file() -> Path:
    """``PYRAMID_SOURCES``: the declared sources file (default: the repository's ``sources.yaml``)."""
    return Path(os.environ.get("PYRAMID_SOURCES") or DEFAULT_SOURCES_FILE)


def store_uri() -> str | None:
    """``PYRAMID_STORE``: the release store URI (None: ``<home>/store``)."""
    return os.environ.get("PYRAMID_STORE") or None


def ray_address() -> str | None:
    """``RAY_ADDRESS``: a running Ray cluster to use (None: a local Ray)."""
    return os.environ.get("RAY_ADDRESS") or None


def ray_workers(default: int) -> int:
    """``PYRAMID_RAY_WORKERS``: CPUs of the local Ray and tasks in flight (0: in-process; unset: ``default``)."""
    value = os.environ.get("PYRAMID_RAY_WORKERS", "")
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"PYRAMID_RAY_WORKERS={value!r}: give a whole number of workers (0 runs in-process)")
    return int(value)


def ray_in_process_seconds(default: float) -> float:
    """``PYRAMID_RAY_IN_PROCESS_SECONDS``: how long per-episode work runs in the calling process before a local
    Ray is started for the rest (0: every task on Ray; unset: ``default``)."""
    value = os.environ.get("PYRAMID_RAY_IN_PROCESS_SECONDS", "")
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:  # NaN too
        raise ValueError(f"PYRAMID_RAY_IN_PROCESS_SECONDS={value!r}: give seconds, 0 or more (0: every task on Ray)")
    return seconds


def embodiment_path() -> tuple[Path, ...]:
    """Where user embodiment files are looked up: ``<home>/embodiments``, then each entry of
    ``PYRAMID_EMBODIMENT_PATH`` (folders or files, separated by ``:``)."""
    extra = [Path(entry) for entry in os.environ.get("PYRAMID_EMBODIMENT_PATH", "").split(os.pathsep) if entry]
    return (pyramid_home().embodiments, *extra)


def serve_token() -> str | None:
    """``PYRAMID_SERVE_TOKEN``: the shared token ``pyramid serve`` requires in every request (None: no token)."""
    return os.environ.get("PYRAMID_SERVE_TOKEN") or None
