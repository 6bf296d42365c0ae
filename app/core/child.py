"""Costly work on untrusted input (decoding an upload, rendering a staff template) run in a child process with a
memory limit, a CPU-time limit and a wall-clock limit, so that a crafted input costs at most one child.

Children are started with the "spawn" method (a fresh interpreter: forking a process that runs gevent, threads or
open database connections is unsafe) and kept for reuse, because starting one costs about a second (it imports
the application's modules). Each child serves one call at a time over a pipe: the parent sends a function (by
its importable name) and its arguments, the child sends back its result or its exception. A child that runs out
of time is killed; one that runs out of memory, crashes or is killed is replaced; the caller gets `ChildFailed`.

Limits inside the child: RLIMIT_AS (address space) for memory; RLIMIT_CPU, moved forward before each call, for
CPU time (the kernel ends the child with SIGXCPU). The parent waits at most the wall-clock limit, off gevent's
event loop (`off_loop`), then kills the child.

A daemonic process (a Celery prefork worker) may not start children: there the call runs in the process itself.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from signal import SIGXCPU
from typing import Any, TypeVar

from app.core.offload import off_loop

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_IDLE = 3  # children kept waiting per process (upload checks and template checks have their own limits)
MAX_CALLS = 200  # calls a child serves before it is replaced (memory fragmentation, leaks in decoders)
START_SECONDS = 60.0  # time a new child may take to import the application (a loaded machine)
_READY = "ready"


class ChildFailed(Exception):
    """The child did not finish: `reason` is "timeout", "memory" or "crashed"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    cpu_seconds: int
    wall_seconds: float


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _limit_cpu(seconds: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(_cpu_used()) + 1 + seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _portable(exc: Exception) -> Exception:
    """The exception itself when it survives pickling (the parent raises it as it was), else a RuntimeError
    that names it."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301 (our own bytes, just made)
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def _serve(conn: Connection, memory_bytes: int, cpu_seconds: int) -> None:
    """The child's loop: one call at a time until the parent closes the pipe."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # killed past its CPU time (SIGXCPU): no core file
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or memory_bytes < hard:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, hard))
    conn.send(_READY)
    while True:
        try:
            fn, args = conn.recv()
        except (EOFError, OSError):
            return
        _limit_cpu(cpu_seconds)
        try:
            reply: tuple[str, Any] = ("ok", fn(*args))
        except MemoryError:
            reply = ("memory", None)
        except Exception as exc:  # handed to the parent, which raises it
            reply = ("error", _portable(exc))
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("memory", None))
        if reply[0] == "memory":
            return  # the heap may be left in pieces: the parent starts a fresh child next time


class _Child:
    def __init__(self, limits: Limits):
        context = multiprocessing.get_context("spawn")
        self.conn, child_end = context.Pipe()
        for end in (self.conn, child_end):  # gevent's socketpair() makes them non-blocking; these calls block
            os.set_blocking(end.fileno(), True)
        self.process = context.Process(target=_serve, args=(child_end, limits.memory_bytes, limits.cpu_seconds),
                                       name="freehold-check", daemon=True)
        self.process.start()
        child_end.close()
        self.limits = limits
        self.ready = False
        self.calls = 0

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[str, Any]:
        """Blocking: wait until the child has started, hand it the call, wait for its reply."""
        try:
            if not self.ready:
                if not self.conn.poll(START_SECONDS) or self.conn.recv() != _READY:
                    raise ChildFailed("crashed")
                self.ready = True
            self.calls += 1
            self.conn.send((fn, args))
            if not self.conn.poll(self.limits.wall_seconds):
                raise ChildFailed("timeout")
            status, value = self.conn.recv()
        except (EOFError, OSError):
            raise ChildFailed("crashed") from None
        return status, value

    def stop(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)


_idle: list[_Child] = []
_lock = threading.Lock()
_owner = os.getpid()


def _take(limits: Limits) -> _Child:
    global _owner
    with _lock:
        if _owner != os.getpid():  # a forked copy of this process: the children are not ours
            _idle.clear()
            _owner = os.getpid()
        dead = [child for child in _idle if not child.process.is_alive()]
        found = next((child for child in reversed(_idle) if child.limits == limits and child not in dead), None)
        for child in [*dead, found]:
            if child is not None:
                _idle.remove(child)
    for child in dead:
        child.stop()
    # starting a child (fork, exec, handing it its start-up data) is kept off the event loop too
    return found or off_loop(_Child, limits)


def _give_back(child: _Child) -> None:
    retired = [child] if child.calls >= MAX_CALLS or not child.process.is_alive() else []
    with _lock:
        if not retired:
            _idle.append(child)
            if len(_idle) > MAX_IDLE:
                retired.append(_idle.pop(0))  # the one that waited longest
    for old in retired:
        old.stop()


def stop_all() -> None:
    """End the waiting children (tests; a process about to exit ends them anyway, they are daemonic)."""
    with _lock:
        children = list(_idle)
        _idle.clear()
    for child in children:
        child.stop()


def run(fn: Callable[..., T], *args: Any, limits: Limits) -> T:
    """fn(*args) in a limited child; its exception is raised here. ChildFailed when it ran out of time or memory
    or died. fn must be importable by name (a module-level function) and its arguments and result picklable."""
    if multiprocessing.current_process().daemon:
        return fn(*args)
    child = _take(limits)
    try:
        status, value = off_loop(child.call, fn, args)
    except ChildFailed as exc:
        child.stop()
        if exc.reason == "crashed" and child.process.exitcode == -SIGXCPU:  # past its CPU time
            exc = ChildFailed("timeout")
        log.warning("child check of %s failed: %s (exit code %s)", getattr(fn, "__name__", fn), exc.reason,
                    child.process.exitcode)
        raise exc from None
    except BaseException:
        child.stop()
        raise
    if status == "memory":
        child.stop()
        log.warning("child check of %s ran out of memory", getattr(fn, "__name__", fn))
        raise ChildFailed("memory")
    _give_back(child)
    if status == "error":
        raise value
    result: T = value
    return result
