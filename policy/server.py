"""The policy server and its client: ZeroMQ request/reply carrying msgpack, as GR00T N1.5+ serves policies.

Arrays travel as maps {"__ndarray__": true, "dtype", "shape", "data": raw bytes} of a fixed set of plain
dtypes; nothing on the wire is ever unpickled. A request is {"endpoint": name, "data": {...}}; a reply is
{"ok": true, "result": ...} or {"ok": false, "error": reason}. A bad request gets an error reply and the
server goes on serving: one that breaks ZeroMQ's request/reply framing resets the socket. Requests and batches
are bounded; with a token every request must carry it (``"token"``). The server binds to loopback unless told
otherwise (``allow_remote``), since anyone who reaches it can drive the robot.

Endpoints: ping, get_modality_config, reset {"seed"}, get_action {"embodiment", "observation"}.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from typing import Any

import msgpack
import numpy as np
import zmq

from policy.config import ServerLimits
from policy.inference import ObservationError, ReferencePolicy
from schemas.errors import InputError

__all__ = ["DEFAULT_PORT", "PolicyClient", "PolicyServer", "PolicyServerError", "decode", "encode"]

DEFAULT_PORT = 5555
MAX_MESSAGE_BYTES = ServerLimits().max_request_mb * 2**20
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
        return {
            "__ndarray__": True,
            "dtype": value.dtype.name,
            "shape": list(value.shape),
            "data": np.ascontiguousarray(value).tobytes(),
        }
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot send {type(value).__name__}")


def _unpack(value: dict[str, Any]) -> Any:
    if value.get("__ndarray__") is not True:
        return value
    dtype, shape, data = value.get("dtype"), value.get("shape"), value.get("data")
    if dtype not in WIRE_DTYPES:
        raise WireError(f"array dtype {dtype!r} is not accepted; use one of {sorted(WIRE_DTYPES)}")
    if (
        not isinstance(shape, list)
        or not all(isinstance(n, int) and n >= 0 for n in shape)
        or not isinstance(data, bytes)
    ):
        raise WireError("an array needs a shape (list of non-negative ints) and data (bytes)")
    if int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize != len(data):
        raise WireError(
            f"array of {dtype} {shape} needs {int(np.prod(shape)) * np.dtype(dtype).itemsize} bytes, got {len(data)}"
        )
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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PolicyServer:
    """Serves a ``ReferencePolicy`` on ``tcp://host:port`` until ``stop()``.

    Args:
        max_message_bytes: a larger request gets an error reply (and 4x that is dropped by ZeroMQ itself).
        max_batch: the most observations one ``get_action`` may carry.
        token: when set, a request without this ``"token"`` is refused.
        allow_remote: bind a host other than loopback (logged as a warning).
    """

    def __init__(
        self,
        policy: ReferencePolicy,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_batch: int = ServerLimits().max_batch,
        token: str | None = None,
        allow_remote: bool = False,
    ):
        if not is_loopback(host):
            if not allow_remote:
                raise InputError(
                    f"serving on {host} lets anyone who reaches it drive the robot; serve on 127.0.0.1, "
                    "or pass --allow-remote (with --token)"
                )
            log.warning("serving on %s: reachable beyond this machine%s", host, "" if token else ", without a token")
        self.policy, self.max_message_bytes, self.max_batch, self.token = policy, max_message_bytes, max_batch, token
        self.host = host
        self.context = zmq.Context.instance()
        self.port = port
        self._open_socket()
        self._stopped = threading.Event()
        self.served = 0

    def _open_socket(self) -> None:
        self.socket = self.context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        # a hard cap far above the limit: ZeroMQ drops such a peer; within it, an oversize request gets a reply
        self.socket.setsockopt(zmq.MAXMSGSIZE, 4 * self.max_message_bytes)
        if self.port == 0:
            self.port = self.socket.bind_to_random_port(f"tcp://{self.host}")
        else:
            self.socket.bind(f"tcp://{self.host}:{self.port}")

    def handle(self, frames: list[bytes]) -> dict[str, Any]:
        """The reply to one request (its message frames); never raises for a bad request."""
        try:
            if len(frames) != 1:
                raise WireError(f"a request is one message frame, got {len(frames)}")
            request = decode(frames[0], self.max_message_bytes)
            if not isinstance(request, dict) or not isinstance(request.get("endpoint"), str):
                raise WireError('a request is a map {"endpoint": name, "data": {...}}')
            if self.token is not None and not hmac.compare_digest(str(request.get("token", "")), self.token):
                raise WireError("this server needs the right token in the request")
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
            batch = _batch_size(data.get("observation"))
            if batch > self.max_batch:
                raise WireError(f"a batch of {batch} observations exceeds this server's limit of {self.max_batch}")
            return {"actions": self.policy.get_action(embodiment, data.get("observation"))}
        raise WireError(f"unknown endpoint {endpoint!r}; use ping, get_modality_config, reset or get_action")

    def serve_forever(self, poll_ms: int = 100) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        while not self._stopped.is_set():
            try:
                if not dict(poller.poll(poll_ms)):
                    continue
                frames = self.socket.recv_multipart()
                self.socket.send(encode(self.handle(frames)))
                self.served += 1
            except zmq.ZMQError as error:  # a peer that broke the framing: start again with a clean socket
                log.warning("resetting the socket after %s", error)
                poller.unregister(self.socket)
                self.socket.close(linger=0)
                self._open_socket()
                poller.register(self.socket, zmq.POLLIN)
        self.socket.close(linger=0)

    def stop(self) -> None:
        self._stopped.set()


def _batch_size(observation: Any) -> int:
    """The batch an observation carries (its largest first axis over the video arrays), 0 when it has none."""
    video = observation.get("video") if isinstance(observation, dict) else None
    arrays = [a for a in video.values() if isinstance(a, np.ndarray) and a.ndim] if isinstance(video, dict) else []
    return max((a.shape[0] for a in arrays), default=0)


class PolicyClient:
    """Talks to a ``PolicyServer``; an error reply raises ``PolicyServerError``, no reply ``TimeoutError``."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, timeout_ms: int = 10_000, token: str | None = None
    ):
        self.address, self.timeout_ms, self.token = f"tcp://{host}:{port}", timeout_ms, token
        self.context = zmq.Context.instance()
        self._connect()

    def _connect(self) -> None:
        self.socket = self.context.socket(zmq.REQ)
        self.socket.setsockopt(zmq.RCVTIMEO, self.timeout_ms)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.connect(self.address)

    def request(self, endpoint: str, data: dict[str, Any] | None = None) -> Any:
        token = {"token": self.token} if self.token is not None else {}
        return self.send_raw(encode({"endpoint": endpoint, "data": data or {}, **token}))

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
