"""Files of the command line: reading samples (``.npy`` memory-mapped, ``.npz``, ``.csv``),
writing results atomically, converting CSV to ``.npy`` in chunks, and checking outputs before
any work.

Data files are ``.npy``, ``.npz`` (its only array, or ``--key``) or ``.csv`` (comma separated,
one sample per row, an optional header line).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from ot_gradnets._io import atomic_npy, atomic_open, check_output_path

__all__ = ["check_output", "convert", "name_files", "read_array", "write_array"]


# ---------------------------------------------------------------------------------------------
# File input / output
# ---------------------------------------------------------------------------------------------
def read_array(path: str, key: str | None = None, stream: bool = False) -> np.ndarray:
    """The array in ``path`` (.npy, .npz or .csv); ``stream``: a .npy file memory-mapped."""
    p = Path(path)
    if p.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a .npy, .npz or .csv file.")
    if not p.exists():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = p.suffix.lower()
    if suffix in (".csv", ".txt"):
        return _read_csv(p)
    if suffix not in (".npy", ".npz"):
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use .npy, .npz or .csv.")
    try:
        return _read_numpy(p, key, stream)
    except (OSError, EOFError, ValueError) as err:
        if str(err).startswith(str(path)):
            raise
        kind = "empty" if p.stat().st_size == 0 else f"not a readable {suffix} file"
        raise ValueError(f"{path} is {kind} ({type(err).__name__}: {err}).") from None


def _read_numpy(p: Path, key: str | None, stream: bool = False) -> np.ndarray:
    """A ``.npy`` array (``stream``: memory-mapped), or an array of a ``.npz`` file (``key``;
    without one, the file's only array: several are refused, never chosen silently)."""
    if p.suffix.lower() == ".npy":
        return np.load(p, allow_pickle=False, mmap_mode="r" if stream else None)
    with np.load(p, allow_pickle=False) as data:
        if key is None:
            if not data.files:
                raise ValueError(f"{p} holds no array.")
            if len(data.files) > 1:
                raise ValueError(
                    f"{p} holds {len(data.files)} arrays ({', '.join(data.files)}); say which "
                    "with --key NAME."
                )
            key = data.files[0]
        if key not in data.files:
            raise ValueError(f"{p} has no array {key!r}; it holds {data.files}.")
        return data[key]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(p: Path) -> np.ndarray:
    """Comma-separated numbers, one sample per line; the first line may be a header of column
    names (no field of it a number). Errors name the file's own line number; a file too large
    to parse in the memory available says how to convert it to a streamed .npy."""
    _check_csv_fits(p)
    rows: list[list[float]] = []
    width = None
    with p.open(newline="") as fh:
        for number, line in enumerate(fh, start=1):
            fields = [f.strip() for f in line.strip().split(",")]
            if fields == [""]:
                continue  # a blank line
            if number == 1 and not any(_is_number(f) for f in fields):
                continue  # a header of column names
            try:
                values = [float(f) for f in fields]
            except ValueError:
                raise ValueError(
                    f"{p}, line {number}: {line.strip()!r} is not a row of comma-separated "
                    "numbers" + (" (a header may hold only column names)" if number == 1 else "")
                ) from None
            if width is None:
                width = len(values)
            elif len(values) != width:
                raise ValueError(
                    f"{p}, line {number}: {len(values)} value(s) where the rows above have {width}."
                )
            rows.append(values)
    if not rows:
        raise ValueError(f"{p} holds no data rows.")
    return np.asarray(rows, dtype=np.float64)


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), if known."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


#: Bytes of memory the CSV reader uses per byte of text (Python floats in lists, then an array).
_CSV_BYTES_PER_BYTE = 12


def _check_csv_fits(p: Path) -> None:
    available, size = _available_memory(), p.stat().st_size
    if available is None or size * _CSV_BYTES_PER_BYTE < available:
        return
    raise ValueError(
        f"{p} is {size / 1e9:.1f} GB of text: parsing it needs about "
        f"{size * _CSV_BYTES_PER_BYTE / 1e9:.0f} GB of memory and {available / 1e9:.1f} GB are "
        "available. Convert it once to .npy, which is streamed from disk: "
        f"'ot-gradnets convert {p} -o {p.with_suffix('.npy')}' (reads the text in chunks)."
    )


def convert(args: argparse.Namespace) -> int:
    """``ot-gradnets convert X.csv -o X.npy``: a CSV of samples to a ``.npy`` file, in chunks (the
    text is read twice, never whole; the array is written through a memory map)."""
    src, dst = Path(args.input), Path(args.output)
    check_output(args.output, args.input)
    if dst.suffix.lower() != ".npy":
        raise ValueError(f"{dst}: the output of convert is a .npy file.")
    n = _data_rows(src)
    if n <= 0:
        raise ValueError(f"{src} holds no data rows (an empty file, or a header alone).")
    first = np.loadtxt(src, delimiter=",", max_rows=1, ndmin=2, skiprows=_header_rows(src))
    width = first.shape[1]
    with atomic_npy(dst, (n, width), np.float32) as out:  # renamed over dst when whole
        row = 0
        with src.open() as fh:
            for _ in range(_header_rows(src)):
                next(fh)
            while row < n:
                chunk = np.loadtxt(fh, delimiter=",", max_rows=1 << 16, ndmin=2, dtype=np.float32)
                if chunk.shape[1] != width:
                    raise ValueError(
                        f"{src}: rows of {chunk.shape[1]} values after rows of {width}."
                    )
                out[row : row + len(chunk)] = chunk
                row += len(chunk)
    print(f"wrote {n} x {width} float32 samples to {dst}")
    return 0


def _header_rows(p: Path) -> int:
    with p.open() as fh:
        first = fh.readline().strip().split(",")
    return 0 if any(_is_number(f.strip()) for f in first) else 1


def _data_rows(p: Path) -> int:
    with p.open() as fh:
        return max(sum(1 for line in fh if line.strip()) - _header_rows(p), 0)


def write_array(path: str, array: np.ndarray) -> None:
    """Write ``array`` atomically: to a temporary file in the same folder, flushed to disk, then
    renamed over ``path`` (a crash or a full disk never leaves half a file)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".npz", ".csv", ".txt"):
        raise ValueError(f"{path}: unsupported output type {suffix!r}; use .npy, .npz or .csv.")
    p.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(p, "wb") as fh:
        if suffix == ".npy":
            np.save(fh, array)
        elif suffix == ".npz":
            np.savez(fh, Y=array)
        else:
            np.savetxt(fh, array, delimiter=",")


def name_files(message: str, source: str, target: str) -> str:
    """``message`` with the estimator's ``X`` and ``Y`` named as the files they came from
    (``Y[0]``, a row, is left alone)."""
    names = {"X": f"the source ({source})", "Y": f"the target ({target})"}
    out = re.sub(r"\b([XY])\b(?!\[)", lambda m: names[m[1]], message)
    return out[0].upper() + out[1:] if out else out


def check_output(output: str, *inputs: str) -> None:
    """Before any work: refuse an output path that is one of the inputs (it would be
    overwritten), a folder or a special file, or that cannot be written (its folder is
    created); a symbolic link is written through (:func:`~ot_gradnets._io.check_output_path`)."""
    out = Path(output)
    if out.is_dir():
        raise ValueError(f"-o {output} is a directory; give a file name.")
    for name in inputs:
        if Path(name).exists() and out.exists() and out.resolve() == Path(name).resolve():
            raise ValueError(f"-o {output} is also an input file; writing it would destroy it.")
    check_output_path(output)
