"""Where the Ray engine starts or joins: one place for the options every ``--ray`` command shares.

Ray is optional (``pip install 'hybrid[ray]'``) and imported only when a command is given ``--ray``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass

LOCAL = "local"  # --ray with no value: start (or join) a Ray on this machine
INSTALL_HINT = "the --ray engine needs Ray: pip install 'hybrid[ray]' (or pip install 'ray[data,train]')"


@dataclass(frozen=True)
class RayOptions:
    """``address``: ``local``, ``auto`` or ``ray://host:port``; ``workers``: actors (or training workers)
    to run; ``gpus_per_worker``: GPUs each of them reserves (fractions allowed, as Ray allows)."""

    address: str = LOCAL
    workers: int = 2
    gpus_per_worker: float = 0.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be at least 1, got {self.workers}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"--gpus-per-worker must not be negative, got {self.gpus_per_worker}")

    @property
    def device(self) -> str | None:
        """The torch device a worker should use: ``cuda`` when it holds a GPU, else None (keep the given one)."""
        return "cuda" if self.gpus_per_worker > 0 else None


def import_ray():
    """The ``ray`` module, or an ImportError that says what to install."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(INSTALL_HINT) from err
    return ray


def connect(options: RayOptions):
    """Join the Ray of ``options.address`` (or start a local one) unless this process is already connected;
    returns the ``ray`` module. Workers inherit this process's ``PYTHONPATH`` so they import the same ``hybrid``."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    address = None if options.address == LOCAL else options.address
    env = {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}} if os.environ.get("PYTHONPATH") else None
    init_ray(
        ray,
        address=address,
        runtime_env=env,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    return ray


def init_ray(ray, **options) -> None:
    """``ray.init(**options)`` keeping this process's handlers of fatal signals (SIGSEGV, SIGBUS, SIGFPE,
    SIGILL). Ray installs its own; the JVM that pyserini starts handles SIGSEGV itself (null checks,
    safepoints), so a JVM started before Ray would otherwise die on its first one."""
    with _fatal_signal_handlers_kept():
        ray.init(**options)


class _SigAction(ctypes.Structure):
    _fields_ = [
        ("handler", ctypes.c_void_p),
        ("mask", ctypes.c_ulong * 16),
        ("flags", ctypes.c_int),
        ("restorer", ctypes.c_void_p),
    ]


@contextlib.contextmanager
def _fatal_signal_handlers_kept() -> Iterator[None]:
    libc = ctypes.CDLL(None, use_errno=True)
    numbers = [int(s) for s in (signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE, signal.SIGILL)]
    saved = {number: _SigAction() for number in numbers}
    for number, action in saved.items():
        libc.sigaction(number, None, ctypes.byref(action))
    try:
        yield
    finally:
        for number, action in saved.items():
            libc.sigaction(number, ctypes.byref(action), None)


def local_actor_processes(actor_class: str) -> list[int]:
    """Process ids of the Ray workers on this machine that run an actor of ``actor_class`` for this checkout
    of ``hybrid`` (found by process title and ``PYTHONPATH``: Ray's state API needs its dashboard).
    For benchmarks and tests that measure or kill actors."""
    from pathlib import Path

    checkout = str(Path(__file__).resolve().parent.parent).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            title, environ = (proc / "cmdline").read_bytes(), (proc / "environ").read_bytes()
        except (OSError, ValueError):
            continue
        if title.startswith(b"ray::") and actor_class.encode() in title and checkout in environ:
            pids.append(int(proc.name))
    return pids
