"""Files the user keeps are written atomically, and never over something that is not a file.

:func:`atomic_open` writes to a temporary file in the target's folder, flushes it to disk and
renames it over the target (``os.replace``, atomic on POSIX and Windows), so a crash, a kill or
a full disk leaves either the old file or the new one, never half of one, and no temporary
file behind. :func:`check_output_path` says, before any work, whether a path can be written
so: a symbolic link is written through (its target is replaced, the link stays), a device,
FIFO, socket or folder is refused, and the folder must accept new files.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_npy", "atomic_open", "atomic_write_text", "check_output_path"]


def check_output_path(path: str | Path, *, create_parent: bool = True) -> Path:
    """The file that writing ``path`` will replace, checked to be writable: call it before work.

    - A symbolic link resolves to its target, which is what gets written (the link stays).
    - The target must be a regular file or absent: a folder, device, FIFO or socket is refused
      (``ValueError``); renaming a file over one would destroy it.
    - Its folder is created if missing (``create_parent``), and must accept a new file: a
      probe file is created and removed, which is the only test that also holds for root and
      for read-only or virtual file systems (``OSError`` naming ``path`` otherwise).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> check_output_path(folder / "new" / "m.pt") == (folder / "new" / "m.pt").resolve()
        True
        >>> check_output_path(folder)
        Traceback (most recent call last):
        ...
        ValueError: ... is a folder, not a file; give a file name.
    """
    target = Path(os.path.realpath(path))
    if target.exists():
        mode = target.stat().st_mode
        if stat.S_ISDIR(mode):
            raise ValueError(f"{path} is a folder, not a file; give a file name.")
        if not stat.S_ISREG(mode):
            kind = next((k for k, test in _SPECIAL if test(mode)), "special file")
            raise ValueError(f"{path} is a {kind}, not a regular file; refusing to replace it.")
    parent = target.parent
    try:
        if create_parent:
            parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".{target.name}.{os.getpid()}.probe"
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as err:
        raise OSError(
            err.errno, f"cannot write {path}: {err.strerror or err} (in the folder {parent})"
        ) from None
    return target


_SPECIAL = (
    ("device", lambda m: stat.S_ISCHR(m) or stat.S_ISBLK(m)),
    ("FIFO", stat.S_ISFIFO),
    ("socket", stat.S_ISSOCK),
)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open ``path`` for writing (``"w"`` or ``"wb"``) so that it appears whole or not at all.

    The path is checked first (:func:`check_output_path`): a link is written through, a
    special file refused, a missing folder created.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "rows.csv"
        >>> with atomic_open(path) as fh:
        ...     _ = fh.write("a,b\\n1,2\\n")
        >>> path.read_text()
        'a,b\\n1,2\\n'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}.")
    shown = path
    path = check_output_path(path)  # through links; never over a device, FIFO or folder
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            fh = open(tmp, mode, **kwargs)  # noqa: SIM115 - closed below
        except OSError as err:
            raise OSError(err.errno, f"cannot write {shown}: {err.strerror or err}") from None
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path) as fh:
        fh.write(text)


@contextmanager
def atomic_npy(path: str | Path, shape: tuple[int, ...], dtype: Any) -> Iterator[Any]:
    """A ``.npy`` file of ``shape`` and ``dtype``, filled through a memory map (never held whole
    in memory), that appears whole or not at all, as with :func:`atomic_open`.

    Example:
        >>> import tempfile, numpy as np
        >>> path = Path(tempfile.mkdtemp()) / "a.npy"
        >>> with atomic_npy(path, (3, 2), np.float32) as out:
        ...     out[:] = 1.0
        >>> np.load(path).sum()
        np.float32(6.0)
    """
    import numpy as np

    shown = path
    path = check_output_path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        try:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        except OSError as err:
            raise OSError(err.errno, f"cannot write {shown}: {err.strerror or err}") from None
        yield out
        out.flush()
        del out
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
