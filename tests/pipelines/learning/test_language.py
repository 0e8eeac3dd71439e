"""The shared instruction encoder loads offline and quietly, in any process (a Ray worker, a script)."""

import os
import subprocess
import sys

import pytest

from schemas import settings
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out


ENCODE = (
    "from pipelines.learning.language import LanguageEncoder; "
    "tokens, mask = LanguageEncoder().tokens(['lift the red cube']); print(tuple(tokens.shape), int(mask.sum()))"
)


def test_a_fresh_process_loads_the_encoder_without_printing():
    env = {k: v for k, v in os.environ.items() if k not in settings.PROCESS_DEFAULTS}
    done = subprocess.run(
        [sys.executable, "-c", ENCODE],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=True,
    )
    shape, words = done.stdout.split(")")
    assert shape.startswith("(1, ") and int(words) >= 5  # token embeddings of the instruction, [CLS] and [SEP] too
    assert "Loading weights" not in done.stderr  # transformers' bar on every load, e.g. in each Ray worker
