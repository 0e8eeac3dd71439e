"""Per-episode work on Ray: a local Ray by default, a running cluster when an address is given."""

from __future__ import annotations

import logging
import os
import secrets
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from schemas import settings

__all__ = ["RayConfig", "ray_call", "ray_map", "ray_session", "start_local_ray"]

LOG_POLL_SECONDS = 2.0  # how often ray_call passes on what a running task reported
CANCEL_ATTEMPTS = 3  # cancels sent to a task that ray_map's caller no longer wants, the later ones forced
CANCEL_CHECK_SECONDS = 0.5  # how long a cancelled task has to end before it is cancelled again, by force
IN_PROCESS_SECONDS = 5.0  # a local Ray takes ~6 s to start: work shorter than that is done before it would be up


@dataclass(frozen=True)
class RayConfig:
    """Where per-episode tasks run.

    Attributes:
        workers: tasks in flight at once; a local Ray is started with this many CPUs.
        address: a running cluster (``host:6379``, as given by ``ray start --head``); None starts a local Ray.
        in_process_seconds: ``ray_map`` runs tasks in the calling process for this long before it starts a local
            Ray for the rest, as a small source's whole ingest takes less than starting one (Bridge's 25
            episodes: 1 s in process, 7 s on a fresh Ray). 0 sends every task to Ray. A running Ray or a cluster
            is used at once. Default: ``PYRAMID_RAY_IN_PROCESS_SECONDS``, else ``IN_PROCESS_SECONDS``.
    """

    workers: int = 2
    address: str | None = None
    in_process_seconds: float = field(default_factory=lambda: settings.ray_in_process_seconds(IN_PROCESS_SECONDS))


def start_local_ray(workers: int) -> None:
    """A new local Ray with ``workers`` CPUs: its own even where `ray start` has left a cluster running (or a
    stale record of one), which a bare ``ray.init()`` would try to join.

    It requires Ray's token authentication, with a fresh random token (or the ``RAY_AUTH_TOKEN`` already set)
    that its processes inherit: Ray's servers listen on every interface (Ray has no setting to keep them on
    loopback), and without a token anyone who reaches this machine could run code in them. Ray's own logger is
    kept to warnings: its "Started a local Ray instance" line is not progress.
    """
    import ray

    _require_token_auth()
    ray.init(
        address="local",
        num_cpus=workers,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )


def _require_token_auth() -> None:
    """Token authentication for this process and the Ray processes it starts: ``RAY_AUTH_MODE=token`` and a
    ``RAY_AUTH_TOKEN`` (kept if set), with Ray's cached settings refreshed, as Ray's own ``_enable_token_auth``
    does, since this process may have read them already."""
    from ray._raylet import AuthenticationTokenLoader, Config

    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = os.environ.get("RAY_AUTH_TOKEN") or secrets.token_hex(32)
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def _ray_running() -> bool:
    """Whether this process has Ray up; without importing Ray (~1 s), which it has not when Ray is not up."""
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def _start_ray(config: RayConfig) -> bool:
    """Connect to the configured cluster, or start a local Ray with ``workers`` CPUs, unless Ray is already up;
    True when started here (and so to be shut down here)."""
    import ray

    if ray.is_initialized():
        return False
    if config.address:
        ray.init(address=config.address, log_to_driver=False)
    else:
        start_local_ray(config.workers)
    return True


@contextmanager
def ray_session(config: RayConfig | None) -> Iterator[None]:
    """Ray started (or connected to) once for a block of work, e.g. every step of the demo: each ``ray_map``
    and ``ray_call`` inside reuses it instead of starting its own."""
    import ray

    started = config is not None and _start_ray(config)
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def ray_map(fn: Callable[..., Any], arguments: Iterable[tuple], config: RayConfig) -> Iterator[Any]:
    """``fn(*args)`` for every args tuple as Ray tasks, results yielded in input order. Where a local Ray would
    have to be started for them, tasks run in this process until ``in_process_seconds`` have passed, the rest on Ray.

    A local Ray started here has ``workers`` CPUs, so at most ``workers`` tasks run at once; up to
    ``2 * workers`` are submitted so the next results are ready while the caller writes, and results
    (episodes with frames) never pile up faster than they are consumed. A caller that stops early (closing the
    iterator: enough demos succeeded) cancels the tasks still submitted, so they do not hold the workers. A Ray
    started here is shut down.
    """
    arguments = iter(arguments)
    if config.address is None and config.in_process_seconds > 0 and not _ray_running():
        deadline = time.monotonic() + config.in_process_seconds
        for args in arguments:
            yield fn(*args)
            if time.monotonic() >= deadline:
                break
        if (following := next(arguments, None)) is None:
            return  # the work ended within the budget: no Ray started for it
        arguments = chain([following], arguments)
    import ray

    started = _start_ray(config)
    pending: deque = deque()
    try:
        task = ray.remote(num_cpus=1)(_with_threads).options(name=_name(fn))
        for args in arguments:
            pending.append(task.remote(1, fn, *args))
            if len(pending) >= 2 * config.workers:
                yield ray.get(pending.popleft())
        while pending:
            yield ray.get(pending.popleft())
    finally:
        if started:
            ray.shutdown()  # ends every task, cancelled or not
        elif pending:
            _cancel(list(pending))


def _cancel(references: list) -> None:
    """Cancel tasks, then kill those still running a moment later: a polite cancel raises KeyboardInterrupt only
    when the task next runs Python (not inside a long C call, e.g. a sleep or a simulation step), and Ray drops a
    cancel that reaches a worker before its task does."""
    import ray

    for attempt in range(CANCEL_ATTEMPTS):
        for reference in references:
            ray.cancel(reference, force=attempt > 0)
        _, references = ray.wait(references, num_returns=len(references), timeout=CANCEL_CHECK_SECONDS)
        if not references:
            return


def ray_call(
    fn: Callable[..., Any],
    args: tuple,
    config: RayConfig | None,
    gpus: float = 0,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """``fn(*args)`` as one Ray task holding ``config.workers`` CPUs (and ``gpus``), e.g. a model's training,
    whose torch threads use those CPUs; in this process when ``config`` is None.

    With ``on_log``, ``fn`` is also given an ``on_log`` keyword, and what it reports there (a training's loss
    every few steps) reaches ``on_log`` here while the task runs, through a Ray queue.
    """
    if config is None:
        return fn(*args) if on_log is None else fn(*args, on_log=on_log)
    import ray
    from ray.util.queue import Queue

    started = _start_ray(config)
    try:
        task = ray.remote(num_cpus=config.workers, num_gpus=gpus)(_with_threads).options(name=_name(fn))
        if on_log is None:
            return ray.get(task.remote(config.workers, fn, *args))
        queue = Queue(actor_options={"num_cpus": 0})
        try:
            result = task.remote(config.workers, _call_reporting_to, queue, fn, args)
            while True:
                finished, _ = ray.wait([result], timeout=LOG_POLL_SECONDS)
                for entry in queue.get_nowait_batch(queue.qsize()):
                    on_log(entry)
                if finished:
                    return ray.get(result)
        finally:
            queue.shutdown()
    finally:
        if started:
            ray.shutdown()


def _with_threads(threads: int, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a Ray worker with torch's threads set to the CPUs its task holds: a worker process can
    serve one-CPU tasks and a whole training in turn, and torch would keep the thread count it had last. Tasks
    that run in the caller's process (``ray_map``'s first seconds) leave the caller's threads alone."""
    os.environ["OMP_NUM_THREADS"] = str(threads)  # torch reads it when a task first imports it
    if (torch := sys.modules.get("torch")) is not None:
        torch.set_num_threads(threads)
    return fn(*args)


def _name(fn: Callable[..., Any]) -> str:
    """The task's name in Ray's dashboard and logs: the function it runs, not its wrapper."""
    return getattr(fn, "__qualname__", type(fn).__name__)


def _call_reporting_to(queue: Any, fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*args, on_log=queue.put)
