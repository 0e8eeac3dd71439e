"""Environment variables read in one module: the process defaults yield to what the user set, and a bad
worker count is refused with the variable named; the README's table lists them with the code's defaults."""

import os
import re
from pathlib import Path

import pytest

from schemas import settings
from schemas.settings import REPO_ROOT


def test_process_defaults_fill_only_what_is_unset(monkeypatch):
    for name in settings.PROCESS_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MUJOCO_GL", "egl")
    settings.use_process_defaults()

    assert os.environ["MUJOCO_GL"] == "egl" and os.environ["HF_HUB_OFFLINE"] == "1"


def test_ray_workers_from_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv("PYRAMID_RAY_WORKERS", raising=False)
    assert settings.ray_workers(2) == 2
    monkeypatch.setenv("PYRAMID_RAY_WORKERS", "0")
    assert settings.ray_workers(2) == 0
    monkeypatch.setenv("PYRAMID_RAY_WORKERS", "two")
    with pytest.raises(ValueError, match="PYRAMID_RAY_WORKERS='two': give a whole number"):
        settings.ray_workers(2)


def test_ray_in_process_seconds_from_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv("PYRAMID_RAY_IN_PROCESS_SECONDS", raising=False)
    assert settings.ray_in_process_seconds(5.0) == 5.0
    monkeypatch.setenv("PYRAMID_RAY_IN_PROCESS_SECONDS", "0")
    assert settings.ray_in_process_seconds(5.0) == 0.0
    for wrong in ("-1", "nan", "soon"):
        monkeypatch.setenv("PYRAMID_RAY_IN_PROCESS_SECONDS", wrong)
        with pytest.raises(ValueError, match=f"PYRAMID_RAY_IN_PROCESS_SECONDS='{wrong}': give seconds"):
            settings.ray_in_process_seconds(5.0)


def test_the_readme_lists_every_variable_read_here_with_the_ray_defaults_of_the_code():
    from pipelines.runtime.parallel import IN_PROCESS_SECONDS, RayConfig

    rows = {
        name: line
        for line in (REPO_ROOT / "README.md").read_text().splitlines()
        for name in re.findall(r"^\| `(\w+)`", line)
    }
    assert set(re.findall(r'environ\.get\("(\w+)"', Path(settings.__file__).read_text())) <= set(rows)
    assert f"(default {RayConfig.workers};" in rows["PYRAMID_RAY_WORKERS"]
    assert f"(default {IN_PROCESS_SECONDS:g};" in rows["PYRAMID_RAY_IN_PROCESS_SECONDS"]
