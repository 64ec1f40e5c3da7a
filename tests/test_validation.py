"""Input checks at the public boundary (``ot_gradnets._validation``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ot_gradnets._validation import as_samples, check_positive_int


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
