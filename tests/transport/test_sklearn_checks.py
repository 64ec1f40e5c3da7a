"""scikit-learn's own estimator checks pass on BrenierMap.

The checks call ``fit(X, y)`` with ``y`` a label vector or ``None``, and ``score(X, y)``; a
transport map needs a second *sample* instead, so the adapter below fits ``X`` onto itself (the
identity is then the optimal map). Everything else (parameters, cloning, pickling, input
validation and its messages, fitted state, ``n_features_in_``, dtypes, sparse and complex
refusals) is the estimator's own.
"""

from __future__ import annotations

import warnings

from sklearn.utils.estimator_checks import parametrize_with_checks

from ot_gradnets import BrenierMap


class SelfMap(BrenierMap):
    """``BrenierMap`` under scikit-learn's ``fit(X, y)``: the map from ``X`` onto ``X``."""

    def fit(self, X, y=None, **kwargs):  # noqa: ANN001, ANN201, D102
        return super().fit(X, X, **kwargs)

    def score(self, X, y=None):  # noqa: ANN001, ANN201, D102
        return super().score(X, X)


@parametrize_with_checks([SelfMap(max_iter=3, random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and few-samples warnings of 3-step fits
        check(estimator)
