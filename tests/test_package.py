"""Package-level behaviour: version, command line, shared input validation."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

import ot_gradnets
from ot_gradnets.cli import build_parser, main


def test_version_is_exposed_and_matches_the_cli(capsys):
    assert isinstance(ot_gradnets.__version__, str) and ot_gradnets.__version__.count(".") == 2
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == ot_gradnets.__version__
    with pytest.raises(SystemExit) as exit_info:  # argparse's own, after other flags
        main(["--debug", "--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == ot_gradnets.__version__


def test_version_answers_without_importing_torch():
    code = "import sys; from ot_gradnets.cli import main; main(['--version']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [ot_gradnets.__version__, "False"]


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


def test_the_main_names_import_from_the_top_level_without_loading_them_first():
    code = (
        "import sys, ot_gradnets; light = not any(m in sys.modules for m in "
        "('torch', 'ot', 'sklearn', 'ot_gradnets.transport')); "
        "from ot_gradnets import BrenierMap, GradNetC, GradNetM, MGradNetC, MGradNetM; "
        "import ot_gradnets.transport as t, ot_gradnets.core as c; "
        "same = BrenierMap is t.BrenierMap and MGradNetM is c.MGradNetM and GradNetC is c.GradNetC; "
        "print(light, same, set(ot_gradnets.__all__) <= set(dir(ot_gradnets)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]
    with pytest.raises(AttributeError, match="no attribute 'Brenier'"):
        ot_gradnets.Brenier  # noqa: B018
