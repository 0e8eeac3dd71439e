"""New instructions for a first frame: never the episode's own, no repeats while the vocabulary lasts, seeded,
and counterfactual exactly when they name an object or place the episode's instruction does not."""

import numpy as np
import pytest

from generators.video.instructions import DEFAULT_VOCABULARY, Vocabulary, new_instructions

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

VOCABULARY = Vocabulary(verbs=("lift", "push"), objects=("red cube", "can"), places=("", "to the left"))


def test_instructions_leave_out_the_original_and_repeat_only_when_the_vocabulary_is_used_up():
    made = new_instructions("Lift the red cube", 7, VOCABULARY, np.random.default_rng(0))
    texts = [i.text for i in made]
    assert "lift the red cube" not in texts
    assert len(set(texts)) == 7 == len(VOCABULARY.sentences()) - 1
    again = [i.text for i in new_instructions("lift the red cube", 10, VOCABULARY, np.random.default_rng(0))]
    assert len(again) == 10 and set(again) == set(texts)  # the 8th to 10th reuse the vocabulary


def test_counterfactual_marks_objects_and_places_the_demo_never_had():
    made = {
        i.text: i.counterfactual for i in new_instructions("lift the red cube", 7, VOCABULARY, np.random.default_rng(1))
    }
    assert made["push the red cube"] is False  # same object, no place: a new verb on the demonstrated object
    assert made["lift the can"] is True
    assert made["lift the red cube to the left"] is True


def test_the_same_seed_gives_the_same_instructions():
    first = new_instructions("stack the red cube on the green cube", 30, DEFAULT_VOCABULARY, np.random.default_rng(5))
    second = new_instructions("stack the red cube on the green cube", 30, DEFAULT_VOCABULARY, np.random.default_rng(5))
    assert first == second and len({i.text for i in first}) == 30


def test_a_vocabulary_with_nothing_new_is_refused():
    with pytest.raises(ValueError, match="no instruction other than 'lift the can'"):
        new_instructions("lift the can", 3, Vocabulary(("lift",), ("can",), ("",)), np.random.default_rng(0))
