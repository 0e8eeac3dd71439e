"""New instructions for a teleop first frame, built from the tasks' vocabulary: every (verb, object, place)
sentence but the episode's own, so one scene is asked to do many things, including counterfactual ones (an
object the demo never touched, a place it never went)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_VOCABULARY", "GeneratedInstruction", "Vocabulary", "new_instructions"]


@dataclass(frozen=True)
class GeneratedInstruction:
    """``counterfactual``: names an object or place the source episode's instruction does not."""

    text: str
    counterfactual: bool


@dataclass(frozen=True)
class Vocabulary:
    verbs: tuple[str, ...]
    objects: tuple[str, ...]
    places: tuple[str, ...]  # "" for none

    def sentences(self) -> list[tuple[str, str, str]]:
        """(sentence, object, place) for every combination."""
        return [
            (" ".join(w for w in (verb, "the", obj, place) if w), obj, place)
            for verb, obj, place in itertools.product(self.verbs, self.objects, self.places)
        ]


# The robosuite Panda tasks' words (lift, stack, pick-and-place) plus moves none of them demonstrates.
DEFAULT_VOCABULARY = Vocabulary(
    verbs=("lift", "pick up", "push", "move", "grasp"),
    objects=("red cube", "green cube", "can", "cereal box", "bread"),
    places=("", "in its bin", "on the green cube", "to the left", "to the right"),
)


def new_instructions(
    original: str, count: int, vocabulary: Vocabulary, rng: np.random.Generator
) -> list[GeneratedInstruction]:
    """``count`` instructions other than ``original``, without repeats while the vocabulary lasts."""
    candidates = [s for s in vocabulary.sentences() if s[0] != original.strip().lower()]
    if not candidates:
        raise ValueError(f"the vocabulary makes no instruction other than {original!r}")
    order = np.concatenate([rng.permutation(len(candidates)) for _ in range(-(-count // len(candidates)))])[:count]
    original = original.lower()
    return [
        GeneratedInstruction(candidates[i][0], candidates[i][1] not in original or candidates[i][2] not in original)
        for i in order
    ]
