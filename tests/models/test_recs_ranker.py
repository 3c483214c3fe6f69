"""The learned recommendation ranker on planted repeat cycles: a due consumable first, a durable
bought yesterday nowhere in the list; trained the way eval-recs trains it (a validation window
before the reference time), saved and loaded without pickle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from models.recommenders import RECOMMENDERS, Recommender
from models.recommenders.evaluate import make_eval_split
from models.recommenders.interactions import build_interactions
from models.recommenders.ranker import PurchaseHistory, RankerRecommender, feature_names

T0 = pd.Timestamp("2024-01-01", tz="UTC")
N_CONSUMABLES, N_DURABLES, N_CUSTOMERS = 10, 60, 400
CYCLES = {c: 7 + 3 * c for c in range(N_CONSUMABLES)}  # consumable c is re-bought every 7..34 days
VALIDATION_DAY, NOW_DAY = 180, 210
COMPONENTS = ["repeat_buy", "popularity", "item_knn", "ease"]
PARAMS = {"item_knn": {"neighbors": 30}, "ease": {"l2": 50.0}}
WEIGHTS = {"repeat_buy": 1.0, "popularity": 0.25, "item_knn": 0.5, "ease": 0.5}


def _item(i: int) -> str:
    return f"c{i}" if i < N_CONSUMABLES else f"d{i - N_CONSUMABLES}"


def _events() -> pd.DataFrame:
    """Each customer re-buys two consumables on their cycles and buys four durables once each."""
    rng = np.random.default_rng(11)
    rows = []
    for u in range(N_CUSTOMERS):
        for c in (u % N_CONSUMABLES, (3 * u + 1) % N_CONSUMABLES):
            for day in range(int(rng.integers(0, CYCLES[c])), NOW_DAY, CYCLES[c]):
                rows.append((f"u{u}", _item(c), day))
        for d in rng.choice(N_DURABLES, 4, replace=False):
            rows.append((f"u{u}", _item(N_CONSUMABLES + int(d)), int(rng.integers(0, NOW_DAY))))
    # planted shoppers: consumable 2k due today (three cycles behind them, the last one exactly a
    # cycle ago), consumable 2k+1 bought yesterday (not due), durable k bought yesterday
    for k in range(4):
        due, fresh = 2 * k, 2 * k + 1
        for n in (3, 2, 1):
            rows.append((f"planted{k}", _item(due), NOW_DAY - n * CYCLES[due]))
            rows.append((f"planted{k}", _item(fresh), NOW_DAY - 1 - n * CYCLES[fresh]))
        rows.append((f"planted{k}", _item(fresh), NOW_DAY - 1))
        rows.append((f"planted{k}", _item(N_CONSUMABLES + k), NOW_DAY - 1))
    frame = pd.DataFrame(rows, columns=["user", "item", "day"])
    frame["timestamp"] = T0 + pd.to_timedelta(frame["day"] + 0.5, unit="D")
    frame["type"] = "purchase"
    frame["channel"] = np.where(frame["user"].str[-1].isin(list("02468")), "store", "web")
    return frame.drop(columns="day")


@pytest.fixture(scope="module")
def trained() -> tuple[RankerRecommender, pd.DataFrame, np.ndarray]:
    events = _events()
    item_ids = np.array([_item(i) for i in range(N_CONSUMABLES + N_DURABLES)], dtype=object)
    weights = {"purchase": 1.0}
    cut = T0 + pd.Timedelta(days=VALIDATION_DAY)
    before, window = events[events["timestamp"] < cut], events[events["timestamp"] >= cut]
    window = window[window["timestamp"] < cut + pd.Timedelta(days=14)]
    inner = build_interactions(before, weights, half_life_days=60.0, now=cut, item_ids=item_ids)
    split = make_eval_split(inner, window)
    ranker = RankerRecommender(
        COMPONENTS, PARAMS, WEIGHTS, candidates_per_model=15, n_estimators=60, random_state=3
    )
    ranker.fit(inner.matrix).use_history(PurchaseHistory.build(before, inner.user_ids, item_ids, cut))
    info = ranker.fit_ranker(split.userids["all"], inner.matrix[split.userids["all"]], split.truth["all"])
    assert info["train_users"] > 300 and info["train_positives"] > 0
    # serve at NOW_DAY: components refitted on everything before it, the learned booster kept
    now = T0 + pd.Timedelta(days=NOW_DAY)
    full = build_interactions(events, weights, half_life_days=60.0, now=now, item_ids=item_ids)
    served = RankerRecommender(
        COMPONENTS, PARAMS, WEIGHTS, candidates_per_model=15, n_estimators=60, random_state=3
    )
    served.fit(full.matrix).use_history(PurchaseHistory.build(events, full.user_ids, item_ids, now))
    served.booster_ = ranker.booster_
    planted = np.array([list(full.user_ids).index(f"planted{k}") for k in range(4)])
    return served, full, planted


def test_due_consumable_first_and_just_bought_durable_nowhere(trained):
    ranker, full, planted = trained
    ids, scores = ranker.recommend(planted, full.matrix[planted], N=20, filter_already_liked_items=False)
    for k, row in enumerate(ids):
        items = [full.item_ids[i] for i in row if i >= 0]
        assert items[0] == _item(2 * k), f"planted{k}: {items[:5]}"
        assert _item(N_CONSUMABLES + k) not in items, f"planted{k}: durable bought yesterday in {items}"
        assert items.index(_item(2 * k + 1)) > 0  # the consumable bought yesterday is not first
    assert np.isfinite(scores).all()


def test_the_blend_alone_cannot_tell_due_from_just_bought(trained):
    """Without the learned stage (no booster: the blend's score) yesterday's purchases lead."""
    ranker, full, planted = trained
    untrained = RankerRecommender(COMPONENTS, PARAMS, WEIGHTS, candidates_per_model=15)
    untrained.use_fitted(ranker.models_).use_history(ranker.history_)
    ids, _ = untrained.recommend(planted, full.matrix[planted], N=20, filter_already_liked_items=False)
    firsts = [full.item_ids[row[0]] for row in ids]
    assert firsts != [_item(2 * k) for k in range(4)]


def test_features_and_persistence(trained, tmp_path):
    ranker, full, planted = trained
    assert "ranker" in RECOMMENDERS
    cand = ranker.candidates(planted, full.matrix[planted])
    x = ranker.features_for(planted, full.matrix[planted], cand)
    assert x.shape == (4, cand.shape[1], len(feature_names(COMPONENTS)))
    names = feature_names(COMPONENTS)
    col = names.index("days_since_bought")
    due = int(np.flatnonzero(full.item_ids == _item(0))[0])
    assert x[0, list(cand[0]).index(due), col] == pytest.approx(CYCLES[0])  # bought exactly a cycle ago
    assert x[0, list(cand[0]).index(due), names.index("due_ratio")] == pytest.approx(1.0)
    loaded = Recommender.load(ranker.save(tmp_path / "ranker"))
    assert not list((tmp_path / "ranker").rglob("*.pkl"))
    a = ranker.recommend(planted, full.matrix[planted], N=20, filter_already_liked_items=False)
    b = loaded.recommend(planted, full.matrix[planted], N=20, filter_already_liked_items=False)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-5)


class _Recording(RankerRecommender):
    """Records the candidates every feature matrix is built over."""

    def features_for(self, userids, user_items, candidates, *args, **kwargs):
        self.seen = [*getattr(self, "seen", []), np.asarray(candidates).copy()]
        return super().features_for(userids, user_items, candidates, *args, **kwargs)


def test_new_mode_learns_and_ranks_the_same_pool_without_owned_items():
    """Mode ``new`` (filtering already-bought items): the pool holds each component's top n among
    the items the customer does not have, the labels are its truth items in that pool, and
    ``recommend`` builds its features over that very pool (not over the unfiltered candidates,
    owned items scored then dropped: the features the ranker learned would not be the ones it
    ranks by). Customer 0 owns the three most popular of 8 items (item i bought by 10 - i others)."""
    rows = [(0, i) for i in (0, 1, 2)] + [(u, i) for i in range(8) for u in range(1, 11 - i)]
    r, c = np.array(rows).T
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (r, c)), shape=(11, 8))
    ranker = _Recording(("repeat_buy", "popularity"), candidates_per_model=3, trending_candidates=0)
    ranker.fit(matrix)
    user = np.array([0])
    x, y, groups, _ = ranker.training_set(user, matrix[user], [{4, 7}], filter_already_liked_items=True)
    assert groups.tolist() == [3] and y.tolist() == [0.0, 1.0, 0.0] and len(x) == 3  # 7: not a candidate

    ranker.seen = []
    ids, scores = ranker.recommend(user, matrix[user], N=3, filter_already_liked_items=True)
    assert ids.tolist() == [[3, 4, 5]] and np.isfinite(scores).all()
    assert [s.tolist() for s in ranker.seen] == [[[3, 4, 5]]]
    pool = ranker.pool(user, matrix[user], filter_already_liked_items=True)
    assert pool.tolist() == [[3, 4, 5]]  # unfiltered: [[0, 1, 2]], nothing left once filtered
    assert ranker.pool(user, matrix[user]).tolist() == [[0, 1, 2]]  # mode all: owned items kept
