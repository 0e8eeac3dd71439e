"""The trained policy behind its ZeroMQ + msgpack server: actions in physical units, reproducible per reset
seed, the traced System 1 equal to the eager one, and every malformed request answered with an error while
the server keeps serving."""

import threading

import msgpack
import numpy as np
import pytest

from policy.inference import ObservationError, ReferencePolicy
from policy.server import PolicyClient, PolicyServer, PolicyServerError, encode

pytestmark = pytest.mark.slow  # `make test-fast` leaves it out

INSTRUCTION = "lift the red cube"


def observation(batch: int = 1, seed: int = 0, instructions: list[str] | None = None) -> dict:
    rng = np.random.default_rng(seed)
    frames = lambda: rng.integers(0, 256, (batch, 1, 32, 32, 3), dtype=np.uint8)
    state = {"joint_pos": 7, "eef_pos": 3, "eef_quat": 4, "gripper_qpos": 2}
    return {
        "video": {"agentview": frames(), "robot0_eye_in_hand": frames()},
        "state": {name: rng.normal(0, 0.1, (batch, 1, size)).astype(np.float32) for name, size in state.items()},
        "language": {"task": [[text] for text in instructions or [INSTRUCTION] * batch]},
    }


@pytest.fixture(scope="module")
def policy(tiny_policy):
    return ReferencePolicy(tiny_policy)


@pytest.fixture(scope="module")
def client(policy):
    server = PolicyServer(policy, port=0, max_message_bytes=2**20)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = PolicyClient(port=server.port, timeout_ms=30_000)
    yield client
    client.close()
    server.stop()
    thread.join(timeout=5)


def test_actions_come_in_physical_units_per_group(policy):
    policy.reset(3)
    actions = policy.get_action("robosuite_panda", observation(batch=2))
    assert {name: a.shape for name, a in actions.items()} == {
        "eef_delta_pos": (2, 16, 3),
        "eef_delta_rot": (2, 16, 3),
        "gripper": (2, 16, 1),
    }
    normaliser = policy.normalisers["robosuite_panda"]
    flat = np.concatenate(list(actions.values()), axis=-1)
    assert np.all(flat >= normaliser.action_low - 1e-6) and np.all(flat <= normaliser.action_high + 1e-6)
    assert set(np.unique(actions["gripper"])) <= {normaliser.action_low[6], normaliser.action_high[6]}


def test_reset_seed_makes_actions_reproducible_and_tracing_changes_nothing(policy, tiny_policy):
    """The traced System 1 matches the eager one at batch 1 and at a batch mixing instruction lengths."""
    eager = ReferencePolicy(tiny_policy, trace=False)
    for texts in ([INSTRUCTION], [INSTRUCTION, "lift it", "pick up the red cube from the table now"]):
        results = []
        for model, seed in ((policy, 5), (policy, 5), (eager, 5), (policy, 6)):
            model.reset(seed)
            chunk = model.get_action("robosuite_panda", observation(len(texts), instructions=texts))
            results.append(np.concatenate(list(chunk.values()), axis=-1))
        np.testing.assert_array_equal(results[0], results[1])
        np.testing.assert_allclose(results[0], results[2], atol=1e-4)
        assert not np.allclose(results[0], results[3])


def test_observation_errors_name_what_is_wrong(policy):
    bad_state = observation()
    bad_state["state"]["eef_pos"] = np.zeros((1, 1, 4), np.float32)
    with pytest.raises(ObservationError, match=r"state.eef_pos must be finite floats \(1, T, 3\)"):
        policy.get_action("robosuite_panda", bad_state)
    with pytest.raises(ObservationError, match="not served"):
        policy.get_action("gr1_arms_only", observation())


def test_server_answers_the_endpoints(client, policy):
    assert client.ping()["sha256"] == policy.sha256
    config = client.get_modality_config()
    assert config["robosuite_panda"]["action"] == {"eef_delta_pos": 3, "eef_delta_rot": 3, "gripper": 1}
    assert config["robosuite_panda"]["video"] == ["agentview", "robot0_eye_in_hand"]
    client.reset(11)
    remote = client.get_action("robosuite_panda", observation())
    policy.reset(11)
    local = policy.get_action("robosuite_panda", observation())
    for name in local:
        assert remote[name].dtype == np.float32
        np.testing.assert_allclose(remote[name], local[name], atol=1e-6)


def with_array(value: dict, dtype: str, shape: list, data: bytes) -> dict:
    return {**value, "__ndarray__": True, "dtype": dtype, "shape": shape, "data": data}


MALFORMED = {
    "not msgpack": b"\x93\x01",
    "pickle bytes": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00]\x94.",
    "not a map": msgpack.packb([1, 2, 3]),
    "unknown endpoint": encode({"endpoint": "shutdown"}),
    "missing embodiment": encode({"endpoint": "get_action", "data": {"observation": observation()}}),
    "wrong keys": encode(
        {"endpoint": "get_action", "data": {"embodiment": "robosuite_panda", "observation": {"images": 1}}}
    ),
    "state wrong shape": encode(
        {
            "endpoint": "get_action",
            "data": {
                "embodiment": "robosuite_panda",
                "observation": {
                    **observation(),
                    "state": {**observation()["state"], "joint_pos": np.zeros((1, 1, 6), np.float32)},
                },
            },
        }
    ),
    "video wrong dtype": encode(
        {
            "endpoint": "get_action",
            "data": {
                "embodiment": "robosuite_panda",
                "observation": {
                    **observation(),
                    "video": {
                        "agentview": np.zeros((1, 1, 32, 32, 3), np.float32),
                        "robot0_eye_in_hand": np.zeros((1, 1, 32, 32, 3), np.uint8),
                    },
                },
            },
        }
    ),
    "object dtype array": msgpack.packb(
        {"endpoint": "ping", "data": {"x": with_array({}, "object", [1], b"\x00" * 8)}}
    ),
    "array bytes do not match shape": msgpack.packb(
        {"endpoint": "ping", "data": {"x": with_array({}, "float32", [4], b"\x00" * 8)}}
    ),
    "NaN state": encode(
        {
            "endpoint": "get_action",
            "data": {
                "embodiment": "robosuite_panda",
                "observation": {
                    **observation(),
                    "state": {**observation()["state"], "eef_pos": np.full((1, 1, 3), np.nan, np.float32)},
                },
            },
        }
    ),
    "oversize payload": encode({"endpoint": "ping", "data": {"blob": np.zeros(2**20 + 1, np.uint8)}}),
    "reset seed not an integer": encode({"endpoint": "reset", "data": {"seed": "zero"}}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_requests_get_an_error_reply_and_the_server_keeps_serving(client, case):
    with pytest.raises(PolicyServerError) as error:
        client.send_raw(MALFORMED[case])
    assert str(error.value)
    assert client.ping()["status"] == "ok"


def raw_request(port: int, frames: list[bytes]) -> dict:
    """A request as a foreign client may send it: any number of frames on a plain REQ socket."""
    import zmq

    from policy.server import decode

    socket = zmq.Context.instance().socket(zmq.REQ)
    socket.setsockopt(zmq.RCVTIMEO, 30_000)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(f"tcp://127.0.0.1:{port}")
    try:
        socket.send_multipart(frames)
        return decode(socket.recv())
    finally:
        socket.close()


@pytest.fixture(scope="module")
def guarded(policy):
    """A server with small limits and a token, as one exposed beyond a workstation would run."""
    server = PolicyServer(policy, port=0, max_message_bytes=2**20, max_batch=2, token="s3cret")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.stop()
    thread.join(timeout=5)


def test_multipart_and_empty_frames_get_an_error_reply_and_the_server_keeps_serving(client, policy):
    port = int(client.address.rsplit(":", 1)[1])
    ping = encode({"endpoint": "ping"})
    for frames in ([ping, ping], [ping, b""], [b""], [b"", b"", b""]):
        reply = raw_request(port, frames)
        assert reply["ok"] is False and reply["error"], frames
        assert client.ping()["status"] == "ok"


def test_a_slow_client_does_not_stall_the_others(client):
    """A peer that opens a TCP connection, sends half a ZeroMQ greeting and goes quiet."""
    import socket

    port = int(client.address.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as slow:
        slow.sendall(b"\xff\x00\x00")
        for _ in range(3):
            assert client.ping()["status"] == "ok"


def test_an_oversize_batch_and_a_missing_token_are_refused_and_the_server_keeps_serving(guarded):
    from policy.server import PolicyClient

    with_token = PolicyClient(port=guarded.port, timeout_ms=30_000, token="s3cret")
    without = PolicyClient(port=guarded.port, timeout_ms=30_000)
    wrong = PolicyClient(port=guarded.port, timeout_ms=30_000, token="guess")
    try:
        for anonymous in (without, wrong):
            with pytest.raises(PolicyServerError, match="needs the right token"):
                anonymous.ping()
        with pytest.raises(PolicyServerError, match="a batch of 3 observations exceeds this server's limit of 2"):
            with_token.get_action("robosuite_panda", observation(batch=3))
        assert with_token.get_action("robosuite_panda", observation(batch=2))["gripper"].shape == (2, 16, 1)
        assert with_token.ping()["status"] == "ok"
    finally:
        for one in (with_token, without, wrong):
            one.close()


def test_binding_beyond_loopback_needs_an_explicit_flag(policy):
    from schemas.errors import InputError

    with pytest.raises(InputError, match="serving on 0.0.0.0 lets anyone who reaches it drive the robot"):
        PolicyServer(policy, host="0.0.0.0", port=0)
    server = PolicyServer(policy, host="0.0.0.0", port=0, allow_remote=True, token="t")
    server.stop()
    server.socket.close(linger=0)
