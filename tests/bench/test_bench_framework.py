"""The benchmark framework: row store (typed read-back, resume by fingerprint), runner, tables."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import pytest
import torch

from ot_gradnets.bench import (
    Column,
    RowStore,
    fingerprint,
    markdown_table,
    plot_lines,
    read_rows,
    run_units,
)

COLUMNS = {"pair": str, "d": int, "err": float, "steps": int, "note": str}


def store(path, resume=False, **settings):
    return RowStore(path / "t.csv", COLUMNS, ["pair", "d"], settings or {"seed": 0}, resume=resume)


def test_rows_read_back_with_their_types_and_empty_cells_as_none(tmp_path):
    s = store(tmp_path)
    s.add({"pair": "a", "d": 2, "err": 0.125, "steps": 30, "note": "x, y"})
    s.add({"pair": "a", "d": 4, "err": math.inf, "steps": None})  # missing columns are empty
    back = read_rows(tmp_path / "t.csv", COLUMNS)
    assert back[0] == {"pair": "a", "d": 2, "err": 0.125, "steps": 30, "note": "x, y"}
    assert back[1] == {"pair": "a", "d": 4, "err": math.inf, "steps": None, "note": None}
    assert type(back[0]["d"]) is int and type(back[0]["err"]) is float


def test_a_row_with_the_same_key_replaces_the_old_one(tmp_path):
    s = store(tmp_path)
    s.add({"pair": "a", "d": 2, "err": 1.0})
    s.add({"pair": "a", "d": 2, "err": 2.0})
    assert [r["err"] for r in read_rows(tmp_path / "t.csv", COLUMNS)] == [2.0]


def test_unknown_columns_and_types_are_refused(tmp_path):
    with pytest.raises(ValueError, match="'bogus'"):
        store(tmp_path).add({"pair": "a", "d": 2, "bogus": 1})
    with pytest.raises(ValueError, match="int, float or str"):
        RowStore(tmp_path / "u.csv", {"x": list}, ["x"], {})
    with pytest.raises(ValueError, match="key columns"):
        RowStore(tmp_path / "u.csv", {"x": int}, ["y"], {})


def test_resume_keeps_rows_of_the_same_settings_and_refuses_others(tmp_path):
    s = store(tmp_path, seed=0, quick=True)
    s.add({"pair": "a", "d": 2, "err": 1.0})
    kept = store(tmp_path, resume=True, seed=0, quick=True)
    assert kept.rows == s.rows and kept.n_kept == 1 and kept.done(("a",)) and kept.done(("a", 2))
    assert not kept.done(("a", 4)) and not kept.done(("b",))
    with pytest.raises(ValueError, match=r"seed: 0 then, 1 now"):
        store(tmp_path, resume=True, seed=1, quick=True)
    assert len(read_rows(tmp_path / "t.csv", COLUMNS)) == 1  # a refused resume touches nothing
    fresh = store(tmp_path, seed=1, quick=True)  # without resume: a new table
    assert fresh.rows == [] and read_rows(tmp_path / "t.csv", COLUMNS) == []
    record = json.loads((tmp_path / "t.settings.json").read_text())
    assert record["fingerprint"] == fingerprint({"seed": 1, "quick": True})
    assert record["settings"] == {"seed": 1, "quick": True}
    assert record["environment"]["torch"] == torch.__version__


def test_resume_without_a_settings_record_is_refused(tmp_path):
    (tmp_path / "t.csv").write_text("pair,d,err,steps,note\na,2,1.0,,\n")
    with pytest.raises(ValueError, match="no record of its settings"):
        store(tmp_path, resume=True)


def test_fingerprint_follows_values_not_order():
    assert fingerprint({"a": 1, "b": (1, 2)}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})


@pytest.fixture
def square(monkeypatch):
    """The row maker of bench_units_helper.py, importable by the workers of ``jobs > 1``."""
    here = Path(__file__).parent
    monkeypatch.syspath_prepend(str(here))
    import bench_units_helper

    return bench_units_helper.square


@pytest.mark.parametrize("jobs", [1, 2])
def test_run_units_makes_only_the_missing_units(tmp_path, jobs, square):
    s = store(tmp_path)
    s.add({"pair": "a", "d": 2, "err": -1.0})  # already there: not made again
    units = [("a", 2), ("a", 3), ("b", 4)]
    ran = run_units(units, square, s, jobs=jobs)
    assert ran == [("a", 3), ("b", 4)]
    assert {(r["pair"], r["d"]): r["err"] for r in s.rows} == {
        ("a", 2): -1.0,
        ("a", 3): 9.0,
        ("b", 4): 16.0,
    }


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_failing_unit_raises_and_the_finished_rows_stay(tmp_path, jobs, square):
    s = store(tmp_path)
    with pytest.raises(RuntimeError, match="failed") as info:
        run_units([("a", 1), ("a", 2)], functools.partial(square, fail_on=2), s, jobs=jobs)
    if jobs > 1:  # the worker's error names its unit
        assert "in benchmark unit ('a', 2)" in "".join(getattr(info.value, "__notes__", []))
    assert [r["d"] for r in read_rows(tmp_path / "t.csv", COLUMNS)] == [1]


def test_jobs_need_a_picklable_row_maker(tmp_path, square):
    with pytest.raises(ValueError, match="pickles"):
        run_units([("a", 1), ("a", 2)], lambda u: [], store(tmp_path), jobs=2)
    with pytest.raises(ValueError, match="jobs"):
        run_units([("a", 1)], square, store(tmp_path), jobs=0)


def test_markdown_table_formats_numbers_and_marks_missing_cells():
    rows = [{"m": "x", "v": 0.12345, "n": 3}, {"m": "y", "v": math.nan, "n": None}]
    cols = [Column("model", "m"), Column("value", "v", ".2f", right=True),
            Column("n+1", lambda r: None if r["n"] is None else r["n"] + 1)]  # fmt: skip
    assert markdown_table(rows, cols).splitlines() == [
        "| model | value | n+1 |",
        "|---|---:|---|",
        "| x | 0.12 | 4 |",
        "| y | - | - |",
    ]


def test_plot_lines_writes_a_figure_and_skips_non_finite_points(tmp_path):
    rows = [{"p": "a", "m": m, "d": d, "y": d * (i + 1) if d != 4 else math.inf}
            for i, m in enumerate(["u", "v"]) for d in (2, 4, 8)]  # fmt: skip
    path = plot_lines(rows, tmp_path / "f.png", panel="p", series="m", x="d", y="y",
                      xlabel="d", ylabel="y", ylog=True)  # fmt: skip
    assert path.stat().st_size > 1000
