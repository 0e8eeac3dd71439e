"""Environment variables read in one module: the process defaults yield to what the user set, and a bad
worker count is refused with the variable named."""

import os

import pytest

from schemas import settings


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
