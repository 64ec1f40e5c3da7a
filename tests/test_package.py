"""Package-level behaviour: version, command line, shared input validation."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch

import ot_gradnets
from ot_gradnets._validation import as_samples, check_positive_int
from ot_gradnets.cli import build_parser, main


def test_version_is_exposed_and_matches_the_cli(capsys):
    assert isinstance(ot_gradnets.__version__, str) and ot_gradnets.__version__.count(".") == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == ot_gradnets.__version__


def test_cli_without_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: ot-gradnets" in capsys.readouterr().out


def _listed(help_text: str) -> dict[str, str]:
    """``{name: description}`` of the sub-commands a ``--help`` text lists (argparse's layout:
    the name indented by four spaces, the description after it or on the next lines)."""
    out: dict[str, str] = {}
    name = None
    for line in help_text.splitlines():
        match = re.match(r"^    (\S+)(?:\s+(.*))?$", line)
        if match:
            name = match.group(1)
            out[name] = match.group(2) or ""
        elif name is not None and re.match(r"^ {6,}\S", line):
            out[name] = (out[name] + " " + line.strip()).strip()
        else:
            name = None
    return out


def test_help_lists_every_command_and_benchmark_with_a_description():
    """``ot-gradnets --help`` and ``ot-gradnets bench --help`` name every command a user can
    run, each with a description, and each command's usage line spells how to call it."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    listed = _listed(parser.format_help())
    assert set(listed) == set(sub.choices) and all(listed.values()), listed
    bench = sub.choices["bench"]
    bench_sub = next(a for a in bench._actions if a.dest == "suite")
    assert {"fields", "hamiltonian", "transport"} <= set(bench_sub.choices)
    listed = _listed(bench.format_help())
    assert set(listed) == set(bench_sub.choices) and all(listed.values()), listed
    for name, sub_parser in sub.choices.items():
        assert sub_parser.format_usage().startswith(f"usage: ot-gradnets {name} "), name
    for name, sub_parser in bench_sub.choices.items():
        assert sub_parser.format_usage().startswith(f"usage: ot-gradnets bench {name} "), name


def test_import_is_headless_and_light():
    code = "import sys, ot_gradnets.core; print('matplotlib.pyplot' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros((0, 2)), "is empty"),
        (np.zeros(3), "2-D array"),
        (np.zeros((2, 2, 2)), "2-D array"),
        (np.array([[1.0, np.nan]]), "non-finite"),
        (np.array([["a", "b"]]), "numeric"),
        (np.zeros((4, 3)), "must have 2 columns"),
    ],
)
def test_as_samples_rejects_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        as_samples(bad, "X", dim=2)


def test_as_samples_keeps_tensor_dtype_and_converts_arrays():
    t = torch.ones(3, 2, dtype=torch.float64)
    assert as_samples(t, "X").dtype == torch.float64
    assert as_samples(np.ones((3, 2), dtype=np.int64), "X").dtype == torch.get_default_dtype()
    with pytest.raises(ValueError, match="at least 5"):
        as_samples(t, "X", min_samples=5)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_check_positive_int(bad):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        check_positive_int(bad, "n")
