"""The library never imports the benchmarks: no module of ``ot_gradnets.core`` or
``ot_gradnets.transport`` imports ``ot_gradnets.bench``, in any form (absolute or relative, at the
top, inside functions or under ``if TYPE_CHECKING:``), and ``import ot_gradnets.bench`` loads the
framework without the suites."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ot_gradnets

PACKAGE = Path(ot_gradnets.__file__).parent
LIBRARY = ("core", "transport")
BENCH = "ot_gradnets.bench"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_bench(name: str) -> bool:
    return name == BENCH or name.startswith(BENCH + ".")


def bench_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """The imports of ``ot_gradnets.bench`` (or of a module under it) in ``source``, the text of
    the module ``module``, each as ``"line N: what"``; walks the whole tree, so imports inside
    functions, classes and ``if TYPE_CHECKING:`` blocks count, and so do
    ``importlib.import_module("ot_gradnets.bench...")`` calls."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            # ``from X import y`` imports from ``X``, or the submodule ``X.y`` when there is one
            # (``from ot_gradnets import bench``)
            names = [origin] if _is_bench(origin) else [f"{origin}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            first = node.args[0]
            if called not in ("import_module", "__import__") or not isinstance(first, ast.Constant):
                continue
            names = [str(first.value)]
        else:
            continue
        found += [f"line {node.lineno}: {name}" for name in names if _is_bench(name)]
    return found


def _library_modules() -> list[Path]:
    return sorted(p for sub in LIBRARY for p in (PACKAGE / sub).rglob("*.py"))


def test_the_walk_sees_the_library():
    names = {_module_name(p) for p in _library_modules()}
    assert {"ot_gradnets.core", "ot_gradnets.core.fields._fit", "ot_gradnets.transport._brenier",
            "ot_gradnets.core.hamiltonian._train"} <= names  # fmt: skip
    assert len(names) > 30


@pytest.mark.parametrize(
    "source",
    [
        "import ot_gradnets.bench",
        "import ot_gradnets.bench.fields as f",
        "from ot_gradnets.bench import RowStore",
        "from ot_gradnets.bench.transport._suite import METHODS",
        "from ot_gradnets import bench",
        "from ... import bench",
        "from ...bench.fields import RECIPES",
        "def f():\n    from ot_gradnets.bench import run_units\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ot_gradnets.bench import Column\n",
        "import importlib\nimportlib.import_module('ot_gradnets.bench.hamiltonian')",
    ],
)
def test_the_check_finds_every_form_of_import(source):
    assert bench_imports(source, "ot_gradnets.core.fields._fit")


@pytest.mark.parametrize(
    "source",
    [
        "import ot_gradnets.benchmarks_elsewhere",
        "from ot_gradnets import core",
        "from .. import _budget",
        "from ._fit import fit_field",
        "x = 'ot_gradnets.bench'",
    ],
)
def test_the_check_lets_other_imports_be(source):
    assert bench_imports(source, "ot_gradnets.core.fields._fit") == []


@pytest.mark.parametrize("path", _library_modules(), ids=lambda p: _module_name(p))
def test_no_library_module_imports_the_benchmarks(path):
    found = bench_imports(
        path.read_text(encoding="utf-8"), _module_name(path), path.name == "__init__.py"
    )
    assert not found, f"{_module_name(path)} imports {BENCH}: {found}"


def test_importing_the_framework_loads_no_suite():
    code = (
        "import sys, ot_gradnets.bench\n"
        "print(' '.join(m for m in sys.modules if m.startswith('ot_gradnets.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "ot_gradnets.bench" in loaded
    suites = {"ot_gradnets.bench.fields", "ot_gradnets.bench.hamiltonian",
              "ot_gradnets.bench.transport"}  # fmt: skip
    assert not {".".join(m.split(".")[:3]) for m in loaded} & suites
