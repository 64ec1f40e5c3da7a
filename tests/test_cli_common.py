"""The one list syntax and the shared flags of every ``ot-gradnets`` command."""

from __future__ import annotations

import inspect

import pytest

from ot_gradnets.cli import build_parser


@pytest.mark.parametrize(
    "tokens",
    [["2", "8", "32"], ["2,8,32"], ["2,8", "32"], ["2,", "8,,32"]],
)
def test_lists_take_spaces_commas_or_both(tokens: list[str]) -> None:
    for suite in ("transport", "fields"):
        args = build_parser().parse_args(["bench", suite, "--dims", *tokens])
        assert args.dims == [2, 8, 32]


def test_bad_list_items_are_refused_with_exit_code_2(capsys: pytest.CaptureFixture) -> None:
    for argv, message in [
        (["bench", "fields", "--dims", "2,x"], "'x' is not a valid DIM"),
        (["bench", "hamiltonian", "--systems", "two-body,four-body"], "'four-body' is not one"),
        (["bench", "fields", "--recipe", "ours-v1"], "'ours-v1' is not one of"),
    ]:
        with pytest.raises(SystemExit) as err:
            build_parser().parse_args(argv)
        assert err.value.code == 2
        assert message in capsys.readouterr().err


def test_model_specs_keep_their_commas() -> None:
    args = build_parser().parse_args(
        ["bench", "hamiltonian", "--models", "hnn", "gradnet-m:num_modules=32,lr=1e-2"]
    )
    assert args.models == ["hnn", "gradnet-m:num_modules=32,lr=1e-2"]
    args = build_parser().parse_args(["bench", "hamiltonian", "--lr-grid", "1e-3,3e-3", "1e-2"])
    assert args.lr_grid == [1e-3, 3e-3, 1e-2]


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "transport"],
        ["bench", "fields"],
        ["bench", "hamiltonian"],
        ["fit", "x.npy", "y.npy", "-o", "m.pt"],
    ],
)
def test_shared_flags_are_spelled_the_same_everywhere(argv: list[str]) -> None:
    args = build_parser().parse_args([*argv, "--threads", "1"])
    assert args.threads == 1
    if argv[0] == "bench":
        args = build_parser().parse_args([*argv, "--out", "o", "--quick"])
        assert args.out == "o" and args.quick


def test_hamiltonian_defaults_come_from_run_benchmark() -> None:
    from ot_gradnets.bench.hamiltonian import run_benchmark

    parser = build_parser()
    args = parser.parse_args(["bench", "hamiltonian"])
    # flags left out are None (the function's default applies), or equal to it
    assert args.steps is None and args.rollouts is None
    defaults = inspect.signature(run_benchmark).parameters
    assert args.batch_size == defaults["batch_size"].default
    assert args.rollout_method == defaults["rollout_method"].default
