r"""How many CPU threads the library's own work runs on.

torch splits every operation over as many intra-op threads as the machine has cores. The steps
of this library's networks are small (a 512 x 8 minibatch through a few 64-unit layers is a few
hundred microseconds of arithmetic), too small to split: the threads mostly wait on each other,
and when other processes keep the cores busy every such wait lands on a descheduled thread. A
fit that takes 46 s on one thread then takes half an hour. So the library never leaves the count
to torch's default: its public entry points run under :func:`thread_limit` with the count that
:func:`resolve_threads` picks.

``"auto"`` means one thread for small work and, for work large enough to pay for splitting, one
thread per idle core (cores this process may run on, less the one-minute load average), at most
:data:`MAX_AUTO_THREADS`. An integer is used as given. Only CPU work is affected; on an
accelerator the count only sizes the host-side bookkeeping.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "MAX_AUTO_THREADS",
    "SMALL_WORK",
    "add_threads_argument",
    "available_cores",
    "model_step_work",
    "threaded",
    "resolve_threads",
    "thread_limit",
]

#: Below this many floating-point operations per call (or per training step), ``"auto"`` uses
#: one thread: splitting it costs more in synchronisation than it saves.
SMALL_WORK = 3e8

#: The most threads ``"auto"`` picks.
MAX_AUTO_THREADS = 8


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _busy_cores() -> int:
    """Cores other work keeps busy: the one-minute load average, or, where Linux reports it,
    the processes runnable right now (less this one) if that is more; the average lags by a
    minute, so a job that just started is seen only by the second."""
    try:
        busy = math.floor(os.getloadavg()[0] + 0.5)
    except (AttributeError, OSError):  # Windows: no load average, assume the cores are free
        return 0
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
        busy = max(busy, running - 1)
    except (OSError, ValueError, IndexError):
        pass
    return busy


def _idle_cores() -> int:
    """Idle cores, shared with the other ranks of a process group on this machine (torchrun's
    ``LOCAL_WORLD_SIZE``): each rank takes its part."""
    cores = available_cores()
    idle = max(1, min(cores, cores - _busy_cores()))
    if _in_process_group():
        idle = max(1, idle // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
    return idle


def _in_process_group() -> bool:
    import torch

    dist = torch.distributed
    return dist.is_available() and dist.is_initialized()


def resolve_threads(threads: int | str | None, work: float = 0.0) -> int:
    """The thread count to use for ``work`` floating-point operations.

    Args:
        threads: a positive int (used as is), or ``"auto"`` / ``None`` (pick from ``work``).
        work: a rough operation count of the call or of one training step.

    Returns:
        A positive thread count.

    Raises:
        ValueError: if ``threads`` is neither a positive int nor ``"auto"``/``None``.

    Example:
        >>> resolve_threads("auto", work=1e6)  # a small step: one thread
        1
        >>> resolve_threads(3)
        3
    """
    if threads is None or threads == "auto":
        if work < SMALL_WORK:
            return 1
        return max(1, min(MAX_AUTO_THREADS, _idle_cores()))
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int or 'auto', got {threads!r}.")
    return threads


def model_step_work(models: Any, batch_size: int) -> float:
    """About the operations of one training step of ``models`` (one module or a mapping of
    them) on ``batch_size`` points: forward and backward, ~6 per parameter and point."""
    mods = models.values() if hasattr(models, "values") else [models]
    n_params = sum(p.numel() for m in mods for p in m.parameters())
    return 6.0 * n_params * batch_size


def threaded(work: Callable[[dict[str, Any]], float]) -> Callable[[_F], _F]:
    """Run the decorated function under :func:`thread_limit`, with the count that
    :func:`resolve_threads` picks from its ``threads`` argument (which the function declares)
    and ``work(arguments)``, its bound arguments by name."""

    def decorate(fn: _F) -> _F:
        signature = inspect.signature(fn)
        if "threads" not in signature.parameters:
            raise TypeError(f"{fn.__name__} must declare a 'threads' parameter.")

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = bound.arguments
            with thread_limit(resolve_threads(arguments["threads"], work(arguments))):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _parse_threads(value: str) -> int | str:
    import argparse

    if value == "auto":
        return value
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'auto', got {value!r}")
    return n


def add_threads_argument(parser: Any) -> None:
    """Add the command line's shared ``--threads auto|N`` option (default ``"auto"``)."""
    parser.add_argument(
        "--threads",
        type=_parse_threads,
        default="auto",
        help="CPU threads: a number, or 'auto' (default: one for small steps, one per idle "
        "core for large ones)",
    )


@contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``, restoring the old count after.

    Example:
        >>> import torch
        >>> with thread_limit(1):
        ...     torch.get_num_threads()
        1
    """
    import torch  # here, so that ``import ot_gradnets`` stays light

    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
