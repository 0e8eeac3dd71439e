"""The policy server and its client: ZeroMQ request/reply carrying msgpack, as GR00T N1.5+ serves policies.

Arrays travel as maps {"__ndarray__": true, "dtype", "shape", "data": raw bytes} of a fixed set of plain
dtypes; nothing on the wire is ever unpickled. A request is {"endpoint": name, "data": {...}}; a reply is
{"ok": true, "result": ...} or {"ok": false, "error": reason}. A bad request gets an error reply and the
server goes on serving.

Endpoints: ping, get_modality_config, reset {"seed"}, get_action {"embodiment", "observation"}.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import msgpack
import numpy as np
import zmq

from policy.inference import ObservationError, ReferencePolicy

__all__ = ["DEFAULT_PORT", "PolicyClient", "PolicyServer", "PolicyServerError", "decode", "encode"]

DEFAULT_PORT = 5555
MAX_MESSAGE_BYTES = 64 * 2**20
WIRE_DTYPES = frozenset({"uint8", "int32", "int64", "float16", "float32", "float64", "bool"})

log = logging.getLogger(__name__)


class PolicyServerError(RuntimeError):
    """The server's error reply to a request."""


class WireError(ValueError):
    """A message that is not valid pyramid msgpack."""


def _pack(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.name not in WIRE_DTYPES:
            raise WireError(f"arrays of dtype {value.dtype} are not sent; use one of {sorted(WIRE_DTYPES)}")
        return {"__ndarray__": True, "dtype": value.dtype.name, "shape": list(value.shape), "data": np.ascontiguousarray(value).tobytes()}
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot send {type(value).__name__}")


def _unpack(value: dict[str, Any]) -> Any:
    if value.get("__ndarray__") is not True:
        return value
    dtype, shape, data = value.get("dtype"), value.get("shape"), value.get("data")
    if dtype not in WIRE_DTYPES:
        raise WireError(f"array dtype {dtype!r} is not accepted; use one of {sorted(WIRE_DTYPES)}")
    if not isinstance(shape, list) or not all(isinstance(n, int) and n >= 0 for n in shape) or not isinstance(data, bytes):
        raise WireError("an array needs a shape (list of non-negative ints) and data (bytes)")
    if int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize != len(data):
        raise WireError(f"array of {dtype} {shape} needs {int(np.prod(shape)) * np.dtype(dtype).itemsize} bytes, got {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def encode(message: Any) -> bytes:
    return msgpack.packb(message, default=_pack, use_bin_type=True)


def decode(raw: bytes, max_bytes: int = MAX_MESSAGE_BYTES) -> Any:
    if len(raw) > max_bytes:
        raise WireError(f"message of {len(raw)} bytes exceeds the limit of {max_bytes}")
    try:
        return msgpack.unpackb(raw, object_hook=_unpack, raw=False, strict_map_key=True)
    except WireError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as error:  # what msgpack raises for malformed input
        raise WireError(f"not a msgpack message: {error}") from error


class PolicyServer:
    """Serves a ``ReferencePolicy`` on ``tcp://host:port`` until ``stop()``."""

    def __init__(self, policy: ReferencePolicy, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 max_message_bytes: int = MAX_MESSAGE_BYTES):  # fmt: skip
        self.policy, self.max_message_bytes = policy, max_message_bytes
        self.context = zmq.Context.instance()
        self.socket = self.context.socket(zmq.REP)
        # a hard cap far above the limit: ZeroMQ drops such a peer; within it, an oversize request gets a reply
        self.socket.setsockopt(zmq.MAXMSGSIZE, 4 * max_message_bytes)
        self.port = self.socket.bind_to_random_port(f"tcp://{host}") if port == 0 else port
        if port:
            self.socket.bind(f"tcp://{host}:{port}")
        self._stopped = threading.Event()
        self.served = 0

    def handle(self, raw: bytes) -> dict[str, Any]:
        """The reply to one raw request; never raises for a bad request."""
        try:
            request = decode(raw, self.max_message_bytes)
            if not isinstance(request, dict) or not isinstance(request.get("endpoint"), str):
                raise WireError('a request is a map {"endpoint": name, "data": {...}}')
            data = request.get("data") or {}
            if not isinstance(data, dict):
                raise WireError("request data must be a map")
            return {"ok": True, "result": self._dispatch(request["endpoint"], data)}
        except (WireError, ObservationError) as error:
            return {"ok": False, "error": str(error)}
        except Exception as error:  # a failing request must not take the server down
            log.exception("request failed")
            return {"ok": False, "error": f"{type(error).__name__}: {error}"}

    def _dispatch(self, endpoint: str, data: dict[str, Any]) -> Any:
        if endpoint == "ping":
            return {"status": "ok", "release": self.policy.release, "sha256": self.policy.sha256}
        if endpoint == "get_modality_config":
            return self.policy.modality_config()
        if endpoint == "reset":
            seed = data.get("seed", 0)
            if not isinstance(seed, int):
                raise WireError("reset seed must be an integer")
            self.policy.reset(seed)
            return {"status": "ok"}
        if endpoint == "get_action":
            embodiment = data.get("embodiment")
            if not isinstance(embodiment, str):
                raise WireError("get_action needs data.embodiment (a name) and data.observation")
            return {"actions": self.policy.get_action(embodiment, data.get("observation"))}
        raise WireError(f"unknown endpoint {endpoint!r}; use ping, get_modality_config, reset or get_action")

    def serve_forever(self, poll_ms: int = 100) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        while not self._stopped.is_set():
            if not dict(poller.poll(poll_ms)):
                continue
            raw = self.socket.recv()
            self.socket.send(encode(self.handle(raw)))
            self.served += 1
        self.socket.close(linger=0)

    def stop(self) -> None:
        self._stopped.set()


class PolicyClient:
    """Talks to a ``PolicyServer``; an error reply raises ``PolicyServerError``, no reply ``TimeoutError``."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, timeout_ms: int = 10_000):
        self.address, self.timeout_ms = f"tcp://{host}:{port}", timeout_ms
        self.context = zmq.Context.instance()
        self._connect()

    def _connect(self) -> None:
        self.socket = self.context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.RCVTIMEO, self.timeout_ms)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(self.address)

    def request(self, endpoint: str, data: dict[str, Any] | None = None) -> Any:
        return self.send_raw(encode({"endpoint": endpoint, "data": data or {}}))

    def send_raw(self, raw: bytes) -> Any:
        """Send already-encoded bytes (what a foreign client might send) and return the result."""
        self.socket.send(raw)
        try:
            reply = decode(self.socket.recv())
        except zmq.Again:
            self.socket.close()
            self._connect()  # a REQ socket that missed its reply cannot send again
            raise TimeoutError(f"no reply from {self.address} within {self.timeout_ms} ms") from None
        if not reply.get("ok"):
            raise PolicyServerError(reply.get("error", "error reply without a reason"))
        return reply["result"]

    def ping(self) -> dict[str, Any]:
        return self.request("ping")

    def get_modality_config(self) -> dict[str, Any]:
        return self.request("get_modality_config")

    def reset(self, seed: int = 0) -> None:
        self.request("reset", {"seed": seed})

    def get_action(self, embodiment: str, observation: dict[str, Any]) -> dict[str, np.ndarray]:
        return self.request("get_action", {"embodiment": embodiment, "observation": observation})["actions"]

    def close(self) -> None:
        self.socket.close()
