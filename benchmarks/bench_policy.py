"""Reference-policy latency on one CPU core at the reference size, against the control-rate goals: System 1
(4 Euler steps over a 16-action chunk, batch 1) against 8.3 ms (120 Hz), and a full get_action (two 84x84
cameras resized, state normalised, cached instruction tokens, System 2 and System 1, actions unnormalised)
against 100 ms (10 Hz), in process and through the ZeroMQ + msgpack server.

System 1 is timed both eager and traced (``torch.jit.trace`` + freeze, what ``ReferencePolicy`` serves with).
Weights are random: latency does not depend on what the model learned.

    python benchmarks/bench_policy.py [--repeats 200] [--hidden 96]
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from record import at_most, bench_parser, write_result

from pipelines.learning.checkpoints import save_checkpoint
from pipelines.learning.language import language_encoder
from pipelines.learning.training import TrainConfig
from policy.config import PolicyConfig
from policy.data import PolicyDataset, ReleaseData
from policy.inference import ReferencePolicy
from policy.model import FlowMatchingPolicy, ModelInputs
from policy.normalize import Normaliser
from policy.server import PolicyClient, PolicyServer
from policy.train import CHECKPOINT_DIR, checkpoint_config
from schemas.embodiment import get_embodiment
from schemas.pyramid import SourceKind

SYSTEM1_GOAL_MS, GET_ACTION_GOAL_MS = 1000 / 120, 1000 / 10


def milliseconds(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``call`` after a warm-up."""
    for _ in range(10):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def random_policy(folder: Path, config: PolicyConfig) -> ReferencePolicy:
    """A reference-size policy with random weights for robosuite_panda, saved and loaded the usual way."""
    panda = get_embodiment("robosuite_panda")
    normaliser = Normaliser(
        -np.ones(panda.state_dim),
        np.ones(panda.state_dim),
        -np.ones(panda.action_dim),
        np.ones(panda.action_dim),
        tuple(panda.binary_action_dims()),
    )
    data = ReleaseData(
        "bench",
        folder,
        [PolicyDataset("bench", SourceKind.TELEOP, panda, 1.0, folder, [], [])],
        {panda.name: normaliser},
        {panda.name: 0},
    )
    model = FlowMatchingPolicy(config, language_encoder(config.language_model).dim)
    save_checkpoint(folder / CHECKPOINT_DIR, model, checkpoint_config(config, data, TrainConfig(), None))
    return ReferencePolicy(folder)


def observation(size: int = 84) -> dict:
    rng = np.random.default_rng(0)
    return {
        "video": {
            c: rng.integers(0, 256, (1, 1, size, size, 3), dtype=np.uint8) for c in ("agentview", "robot0_eye_in_hand")
        },
        "state": {
            "joint_pos": np.zeros((1, 1, 7), np.float32),
            "eef_pos": np.zeros((1, 1, 3), np.float32),
            "eef_quat": np.zeros((1, 1, 4), np.float32),
            "gripper_qpos": np.zeros((1, 1, 2), np.float32),
        },
        "language": {"task": [["lift the red cube"]]},
    }


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=PolicyConfig().hidden)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = PolicyConfig(hidden=args.hidden)
    with tempfile.TemporaryDirectory() as scratch:
        policy = random_policy(Path(scratch), config)
    model = policy.model
    print(
        f"reference size: hidden {config.hidden}, {config.vl_layers} VL + {config.dit_layers} DiT layers, "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, 1 thread"
    )

    frames = np.zeros((1, 2, config.image_size, config.image_size, 3), np.uint8)
    tokens, mask = policy.language.tokens(["lift the red cube"])
    inputs = ModelInputs(
        torch.from_numpy(frames).permute(0, 1, 4, 2, 3).float(),
        tokens,
        mask,
        torch.zeros(1, config.max_state_dim),
        torch.zeros(1, dtype=torch.long),
    )
    with torch.inference_mode():
        context, state_token = model.system2(inputs), model.encode_state(inputs)
        embeddings, modulations = model.time_conditioning(torch.arange(config.inference_steps) / config.inference_steps)
        noisy = torch.zeros(1, config.chunk, config.max_action_dim)

        def system1(velocity: Callable) -> Callable[[], object]:
            def run() -> None:
                x = noisy
                for k in range(config.inference_steps):
                    x = (
                        x
                        + velocity(
                            context, state_token, x, (embeddings[k : k + 1], modulations[k : k + 1]), inputs.slot
                        )
                        / config.inference_steps
                    )

            return run

        eager = milliseconds(system1(model.velocity), args.repeats)
        traced = milliseconds(system1(policy.velocity), args.repeats)
        system2 = milliseconds(lambda: model.system2(inputs), args.repeats)
    print(
        f"System 1 ({config.inference_steps} Euler step(s), {config.chunk}-action chunk, batch 1): eager {eager:.2f} ms, "
        f"traced {traced:.2f} ms; goal {SYSTEM1_GOAL_MS:.1f} ms -> traced/goal {traced / SYSTEM1_GOAL_MS:.2f}"
    )
    print(f"System 2 (2 cameras, instruction tokens cached): {system2:.2f} ms")

    in_process = milliseconds(lambda: policy.get_action("robosuite_panda", observation()), args.repeats)
    server = PolicyServer(policy, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = PolicyClient(port=server.port)
    wire = milliseconds(lambda: client.get_action("robosuite_panda", observation()), args.repeats)
    server.stop()
    client.close()
    print(
        f"get_action (2 x 84x84 cameras): in process {in_process:.2f} ms, through the server {wire:.2f} ms; "
        f"goal {GET_ACTION_GOAL_MS:.0f} ms -> server/goal {wire / GET_ACTION_GOAL_MS:.2f}"
    )
    figures = {
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
        "system1_eager_ms": round(eager, 3),
        "system1_traced_ms": round(traced, 3),
        "system1_traced_over_eager": round(traced / eager, 3),
        "system2_ms": round(system2, 3),
        "get_action_in_process_ms": round(in_process, 3),
        "get_action_server_ms": round(wire, 3),
    }
    write_result(
        "policy",
        "Reference-policy latency on one CPU core",
        figures,
        {
            "system1_traced_ms": at_most(figures["system1_traced_ms"], SYSTEM1_GOAL_MS),
            "get_action_server_ms": at_most(figures["get_action_server_ms"], GET_ACTION_GOAL_MS),
        },
        reference="System 1 eager (the model's own forward), in the same run; goals are GR00T's control rates "
        "(System 1 at 120 Hz, a whole action at 10 Hz)",
        setup=f"Reference size (hidden {config.hidden}, {config.vl_layers} VL + {config.dit_layers} DiT layers), random "
        f"weights, batch 1, 1 torch thread, median of {args.repeats} calls after a warm-up; System 1 samples with "
        f"{config.inference_steps} Euler step(s) (PolicyConfig.inference_steps); get_action with two 84x84 "
        "cameras, in process and through the ZeroMQ + msgpack server on loopback.",
    )


if __name__ == "__main__":
    main()
