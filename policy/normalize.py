"""Per-embodiment scaling of state and actions to [-1, 1] from a release's stats (meta/stats.json of every
dataset of that embodiment), and back to physical units for the robot.

Binary dimensions (grippers) become exactly -1 or +1 around the middle of their range and decode to the
range's ends, as GR00T treats grippers. A dimension that never varies maps to 0 and decodes to its value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from schemas.embodiment import get_embodiment

__all__ = ["Normaliser", "embodiment_normalisers"]

_BOUNDS = {"min_max": ("min", "max"), "q01_q99": ("q01", "q99")}


@dataclass(frozen=True)
class Normaliser:
    """Bounds of one embodiment's state and action dims; ``binary`` lists binary action dims."""

    state_low: np.ndarray
    state_high: np.ndarray
    action_low: np.ndarray
    action_high: np.ndarray
    binary: tuple[int, ...] = ()

    @staticmethod
    def _scale(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
        span = high - low
        scaled = 2 * (values - low) / np.where(span > 0, span, 1) - 1
        return np.clip(np.where(span > 0, scaled, 0), -1, 1).astype(np.float32)

    def normalise_state(self, state: np.ndarray) -> np.ndarray:
        return self._scale(state, self.state_low, self.state_high)

    def normalise_action(self, action: np.ndarray) -> np.ndarray:
        scaled = self._scale(action, self.action_low, self.action_high)
        if self.binary:
            middle = (self.action_low[list(self.binary)] + self.action_high[list(self.binary)]) / 2
            scaled[..., list(self.binary)] = np.where(action[..., list(self.binary)] > middle, 1.0, -1.0)
        return scaled

    def unnormalise_action(self, scaled: np.ndarray) -> np.ndarray:
        scaled = np.clip(scaled, -1, 1)
        if self.binary:
            scaled = scaled.copy()
            scaled[..., list(self.binary)] = np.where(scaled[..., list(self.binary)] > 0, 1.0, -1.0)
        return ((scaled + 1) / 2 * (self.action_high - self.action_low) + self.action_low).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "state_low": self.state_low.tolist(),
            "state_high": self.state_high.tolist(),
            "action_low": self.action_low.tolist(),
            "action_high": self.action_high.tolist(),
            "binary": list(self.binary),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Normaliser:
        arrays = {
            k: np.asarray(values[k], dtype=np.float64) for k in ("state_low", "state_high", "action_low", "action_high")
        }
        return cls(**arrays, binary=tuple(values["binary"]))


def _bound(stats: dict[str, Any], feature: str, name: str, dim: int, where: Path) -> np.ndarray:
    if dim == 0:
        return np.zeros(0)
    try:
        return np.asarray(stats[feature][name], dtype=np.float64).reshape(dim)
    except (KeyError, ValueError) as error:
        raise ValueError(f"{where}: meta/stats.json has no usable {feature}.{name} of {dim} dims ({error})") from error


def embodiment_normalisers(datasets: dict[Path, str], mode: str) -> dict[str, Normaliser]:
    """One normaliser per embodiment over the datasets ``{folder: embodiment}``: the widest bounds of them all
    (min of the lows, max of the highs), so no dataset of the embodiment is clipped."""
    low_name, high_name = _BOUNDS[mode]
    bounds: dict[str, list[tuple[np.ndarray, ...]]] = {}
    for folder, name in datasets.items():
        embodiment = get_embodiment(name)
        stats = json.loads((folder / "meta" / "stats.json").read_text())
        state_dim, action_dim = embodiment.state_dim, embodiment.action_dim
        bounds.setdefault(name, []).append(
            (
                _bound(stats, "observation.state", low_name, state_dim, folder),
                _bound(stats, "observation.state", high_name, state_dim, folder),
                _bound(stats, "action", low_name, action_dim, folder),
                _bound(stats, "action", high_name, action_dim, folder),
                _bound(stats, "action", "min", action_dim, folder),
                _bound(stats, "action", "max", action_dim, folder),
            )
        )
    normalisers = {}
    for name, entries in bounds.items():
        state_low, state_high, action_low, action_high, action_min, action_max = (np.stack(x) for x in zip(*entries))
        binary = tuple(get_embodiment(name).binary_action_dims())
        action_low, action_high = action_low.min(0), action_high.max(0)
        # binary dims decode to their true ends, not to quantiles
        action_low[list(binary)], action_high[list(binary)] = (
            action_min.min(0)[list(binary)],
            action_max.max(0)[list(binary)],
        )
        normalisers[name] = Normaliser(state_low.min(0), state_high.max(0), action_low, action_high, binary)
    return normalisers
