"""LightGBM LambdaMART configured once for both learned rankers (search: ``models/ranking.py``;
recommendations: ``models/recommenders/ranker.py``).

What they share: row and feature subsampling (0.8) against overfitting a few thousand query groups,
and one thread, because on a few shared cores OpenMP's second thread mostly waits at barriers (the
sample's 165k recommendation rows: 21 s with 1 thread, 53 s with 2 under load).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def fit_lambdamart(
    X: np.ndarray,
    y: np.ndarray,
    group: np.ndarray,
    *,
    n_estimators: int,
    learning_rate: float,
    num_leaves: int,
    min_child_samples: int,
    seed: int,
    **extra: Any,
) -> Any:
    """The fitted ``lightgbm.Booster``; ``group`` holds each query's number of consecutive rows,
    ``extra`` any further LightGBM parameter (e.g. ``lambdarank_truncation_level``)."""
    import lightgbm as lgb

    model = lgb.LGBMRanker(
        objective="lambdarank",
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        num_leaves=num_leaves,
        min_child_samples=min_child_samples,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
        **extra,
    )
    model.fit(X, y, group=group)
    return model.booster_
