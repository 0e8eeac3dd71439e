"""docs/policy.md quotes defaults of the policy's settings; each quote must be the code's value."""

from policy.config import ClosedLoopSettings, PolicyConfig
from tests.conftest import REPO_ROOT


def test_docs_quote_the_codes_sampling_steps_vision_stride_and_step_limit():
    text = " ".join((REPO_ROOT / "docs" / "policy.md").read_text().split())
    assert f"`PolicyConfig.inference_steps` Euler steps from noise, {PolicyConfig.inference_steps} by default" in text
    assert f"(`PolicyConfig.vision_stride`, {PolicyConfig.vision_stride} by default" in text
    assert f"`ClosedLoopSettings.max_steps` steps, by default {ClosedLoopSettings.max_steps}" in text
