"""Contracts every pyramid stage speaks: embodiments, the pyramid vocabulary and the episode contract."""

from schemas.embodiment import ControlMode, Embodiment, Group, get_embodiment, pseudo_embodiment, registered_embodiments
from schemas.episode import Episode, EpisodeError, exact_timestamps, validate_episode
from schemas.errors import InputError
from schemas.pyramid import Layer, Lineage, ManifestEntry, SourceKind, layer_of

__all__ = [
    "ControlMode",
    "Embodiment",
    "Episode",
    "EpisodeError",
    "Group",
    "InputError",
    "Layer",
    "Lineage",
    "ManifestEntry",
    "SourceKind",
    "exact_timestamps",
    "get_embodiment",
    "layer_of",
    "pseudo_embodiment",
    "registered_embodiments",
    "validate_episode",
]
