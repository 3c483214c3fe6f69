"""Contract and quality tests every registered recommender must pass, on planted structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from models.recommenders import (
    RECOMMENDERS,
    BlendRecommender,
    EASERecommender,
    PopularityRecommender,
    Recommender,
    base,
    top_n,
)
from models.recommenders.evaluate import evaluate_recommender, make_eval_split
from models.recommenders.interactions import Interactions, build_interactions, temporal_split

N_GROUPS, ITEMS_PER_GROUP, USERS_PER_GROUP = 5, 40, 60
N_ITEMS = N_GROUPS * ITEMS_PER_GROUP

SMALL_PARAMS: dict[str, dict] = {
    "item_knn": {"neighbors": 30},
    "als": {"factors": 16, "iterations": 10, "regularization": 0.05, "alpha": 10.0},
    "bpr": {"factors": 16, "iterations": 60, "learning_rate": 0.05},
    "ease": {"l2": 50.0},
    "ranker": {
        "components": ["popularity", "item_knn", "ease"],
        "component_params": {"item_knn": {"neighbors": 30}, "ease": {"l2": 50.0}},
        "candidates_per_model": 30,
    },
    "blend": {
        "components": ["popularity", "item_knn", "ease"],
        "component_params": {"item_knn": {"neighbors": 30}, "ease": {"l2": 50.0}},
    },
}


def _planted(seed: int = 7) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Users of group g buy items of group g (plus a little popular noise); 3 items per user held out."""
    rng = np.random.default_rng(seed)
    item_pop = rng.zipf(1.6, N_ITEMS).clip(max=50).astype(float)
    train_rows, train_cols, test_rows, test_cols = [], [], [], []
    user = 0
    for g in range(N_GROUPS):
        group_items = np.arange(g * ITEMS_PER_GROUP, (g + 1) * ITEMS_PER_GROUP)
        for _ in range(USERS_PER_GROUP):
            liked = rng.choice(group_items, 12, replace=False)
            noise = rng.choice(N_ITEMS, 2, replace=False, p=item_pop / item_pop.sum())
            items = np.unique(np.concatenate([liked, noise]))
            held = rng.choice(liked, 3, replace=False)
            rest = np.setdiff1d(items, held)
            train_rows += [user] * len(rest)
            train_cols += rest.tolist()
            test_rows += [user] * len(held)
            test_cols += held.tolist()
            user += 1
    shape = (user, N_ITEMS)
    train = sp.csr_matrix((np.ones(len(train_rows), np.float32), (train_rows, train_cols)), shape=shape)
    test = sp.csr_matrix((np.ones(len(test_rows), np.float32), (test_rows, test_cols)), shape=shape)
    return train, test


@pytest.fixture(scope="module")
def recs_planted() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    return _planted()


@pytest.fixture(scope="module")
def recs_fitted(recs_planted) -> dict[str, Recommender]:
    train, _ = recs_planted
    return {name: cls(**SMALL_PARAMS.get(name, {})).fit(train) for name, cls in RECOMMENDERS.items()}


def _recall(model: Recommender, train: sp.csr_matrix, test: sp.csr_matrix) -> float:
    users = np.arange(train.shape[0])
    truth = [set(test.indices[test.indptr[u] : test.indptr[u + 1]].tolist()) for u in users]
    return evaluate_recommender(model, train, users, truth, k=20, filter_already_liked_items=True)[
        "recall@20"
    ]


NAMES = sorted(RECOMMENDERS)


def test_every_model_registers_itself_under_its_name() -> None:
    """``Recommender.load`` and the blend/ranker components look models up in the self-registration;
    it holds exactly the registry's models."""
    assert Recommender.registered() == RECOMMENDERS


@pytest.mark.parametrize("name", NAMES)
def test_recommend_shapes_and_padding(name, recs_fitted, recs_planted):
    train, _ = recs_planted
    model = recs_fitted[name]
    users = np.arange(10)
    ids, scores = model.recommend(users, train[users], N=20)
    assert ids.shape == (10, 20) and ids.dtype == np.int32
    assert scores.shape == (10, 20) and scores.dtype == np.float32
    assert (ids >= 0).all() and np.isfinite(scores).all()
    assert (np.diff(scores, axis=1) <= 1e-6).all(), "scores must be sorted best first"
    ids, scores = model.recommend(users[:2], train[:2], N=N_ITEMS + 5)
    assert (ids[:, -5:] == -1).all() and np.isneginf(scores[:, -5:]).all()


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_one_by_one(name, recs_fitted, recs_planted, monkeypatch):
    train, _ = recs_planted
    model = recs_fitted[name]
    users = np.arange(0, train.shape[0], 7)
    monkeypatch.setattr(base, "BLOCK_CELLS", N_ITEMS * 4)  # several blocks of 4 users
    ids, scores = model.recommend(users, train[users], N=10)
    singles = [model.recommend(users[i : i + 1], train[users[i : i + 1]], N=10) for i in range(len(users))]
    one_ids = np.vstack([s[0] for s in singles])
    one_scores = np.vstack([s[1] for s in singles])
    np.testing.assert_allclose(scores, one_scores, rtol=1e-4, atol=1e-5)
    assert (ids == one_ids).mean() > 0.97  # only exact score ties may swap


@pytest.mark.parametrize("name", NAMES)
def test_filter_liked_and_candidate_items(name, recs_fitted, recs_planted):
    train, _ = recs_planted
    model = recs_fitted[name]
    users = np.arange(0, train.shape[0], 5)
    ids, _ = model.recommend(users, train[users], N=20, filter_already_liked_items=True)
    for row, u in zip(ids, users, strict=True):
        assert not set(row.tolist()) & set(train[u].indices.tolist())
    candidates = np.arange(0, N_ITEMS, 13)  # 16 items < N: the rest must be padding
    ids, scores = model.recommend(
        users, train[users], N=20, filter_already_liked_items=False, items=candidates
    )
    assert set(ids[ids >= 0].tolist()) <= set(candidates.tolist())
    assert (ids[:, len(candidates) :] == -1).all()


@pytest.mark.parametrize("name", NAMES)
def test_similar_items(name, recs_fitted):
    ids, scores = recs_fitted[name].similar_items(np.array([0, 5, 100]), N=7)
    assert ids.shape == (3, 7) and scores.shape == (3, 7)
    assert all(i not in row for i, row in zip([0, 5, 100], ids.tolist(), strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(name, recs_fitted, recs_planted, tmp_path):
    train, _ = recs_planted
    model = recs_fitted[name]
    model.save(tmp_path / name)
    assert not list((tmp_path / name).rglob("*.pkl"))
    for loaded in (Recommender.load(tmp_path / name), type(model).load(tmp_path / name)):
        assert type(loaded) is type(model)
        users = np.arange(0, 40)
        a_ids, a_scores = model.recommend(users, train[users], N=15)
        b_ids, b_scores = loaded.recommend(users, train[users], N=15)
        np.testing.assert_array_equal(a_ids, b_ids)
        np.testing.assert_allclose(a_scores, b_scores, rtol=1e-6)


@pytest.mark.parametrize("name", ["item_knn", "als", "ease", "blend"])
def test_beats_popularity_on_planted_groups(name, recs_fitted, recs_planted):
    train, test = recs_planted
    pop = _recall(recs_fitted["popularity"], train, test)
    got = _recall(recs_fitted[name], train, test)
    assert got > pop + 0.15, f"{name} recall@20 {got:.3f} vs popularity {pop:.3f}"


def test_fold_in_new_user_gets_their_group(recs_fitted):
    group2 = np.arange(2 * ITEMS_PER_GROUP, 3 * ITEMS_PER_GROUP)
    for name in ("als", "bpr", "ease", "item_knn"):
        ids, scores = recs_fitted[name].recommend_for_interactions(group2[:6], np.ones(6), N=10)
        assert ids.shape == (10,) and np.isfinite(scores).all()
        in_group = np.isin(ids, group2).mean()
        assert in_group >= 0.7, f"{name}: only {in_group:.0%} of a group-2 shopper's recs are group 2"


def test_ease_on_a_catalog_above_max_items_models_the_most_bought(recs_planted, tmp_path):
    train, test = recs_planted
    full = EASERecommender(l2=50.0).fit(train)
    assert full.restricted_ is None and len(full.items_) == N_ITEMS
    model = EASERecommender(l2=50.0, max_items=120).fit(train)
    buyers = np.bincount(train.indices, minlength=N_ITEMS)
    expected = np.sort(np.lexsort((np.arange(N_ITEMS), -buyers))[:120])
    np.testing.assert_array_equal(model.items_, expected)
    assert model.weights_.shape == (120, 120) and "120 most bought of 200" in model.restricted_
    outside = np.setdiff1d(np.arange(N_ITEMS), expected)
    scores = model._score(np.arange(5), train[:5])
    assert (scores[:, outside].max(axis=1) < scores[:, expected].min(axis=1)).all()
    # still a recommender: ranks the whole catalog, beats popularity, survives save/load
    ids, _ = model.recommend(np.arange(train.shape[0]), train, N=20)
    assert (ids >= 0).all()
    pop = PopularityRecommender().fit(train)
    assert _recall(model, train, test) > _recall(pop, train, test) + 0.1
    loaded = Recommender.load(model.save(tmp_path / "ease"))
    np.testing.assert_array_equal(
        loaded.recommend(np.arange(9), train[:9], N=10)[0], model.recommend(np.arange(9), train[:9], N=10)[0]
    )
    np.testing.assert_allclose(
        loaded._item_scores(np.array([expected[0], outside[0]])),
        model._item_scores(np.array([expected[0], outside[0]])),
    )


def test_blend_weights_tuned_on_validation(recs_fitted, recs_planted):
    train, test = recs_planted
    blend = BlendRecommender(["popularity", "ease"]).use_fitted(recs_fitted)
    users = np.arange(train.shape[0])
    truth = [set(test[u].indices.tolist()) for u in users]
    weights = blend.fit_weights(users, train, truth, k=20)
    assert set(weights) == {"popularity", "ease"}
    assert weights["ease"] > 0 and weights["ease"] >= weights["popularity"]


def test_top_n_pads_and_orders():
    scores = np.array([[0.1, -np.inf, 0.5], [-np.inf, -np.inf, -np.inf]], dtype=np.float32)
    ids, s = top_n(scores, 4)
    assert ids.tolist() == [[2, 0, -1, -1], [-1, -1, -1, -1]]
    assert s[0, 0] == np.float32(0.5) and np.isneginf(s[1]).all()


def test_interactions_weights_decay_and_duplicates():
    now = pd.Timestamp("2024-03-01", tz="UTC")
    ev = pd.DataFrame(
        {
            "user": ["a", "a", "a", "b", "b", "b"],
            "item": ["x", "x", "y", "x", "z", "y"],
            "type": ["purchase", "purchase", "view", "return", "email_click", "purchase"],
            "timestamp": [now, now, now - pd.Timedelta(days=10), now, now, now],
            "channel": ["store", "web", "web", "store", "email", "marketplace"],
            "quantity": [1, 1, 1, 1, 1, 1],
        }
    )
    weights = {"purchase": 4.0, "view": 1.0, "email_click": 0.5}
    inter = build_interactions(
        ev, weights, channel_weights={"marketplace": 0.5}, half_life_days=10.0, now=now
    )
    assert isinstance(inter, Interactions)
    ui, ii = inter.user_index(), inter.item_index()
    m = inter.matrix.toarray()
    assert m[ui["a"], ii["x"]] == pytest.approx(8.0)  # two purchases summed
    assert m[ui["a"], ii["y"]] == pytest.approx(0.5)  # a view one half-life ago
    assert m[ui["b"], ii["x"]] == 0.0  # returns are not positives
    assert m[ui["b"], ii["z"]] == pytest.approx(0.5)
    assert m[ui["b"], ii["y"]] == pytest.approx(2.0)  # channel weight
    # purchase > add_to_cart > view > email_click ordering is what Settings defaults encode
    fixed = build_interactions(ev, weights, item_ids=["x", "q"])
    assert fixed.matrix.shape == (2, 2) and fixed.matrix[:, 1].nnz == 0


def test_temporal_split_and_eval_split_modes():
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    ev = pd.DataFrame(
        {
            "user": ["a", "a", "a", "b", "c"],
            "item": ["x", "y", "x", "z", "x"],
            "type": "purchase",
            "timestamp": [
                t0,
                t0 + pd.Timedelta(days=50),
                t0 + pd.Timedelta(days=90),
                t0,
                t0 + pd.Timedelta(days=100),
            ],
        }
    )
    train_ev, test_ev, cutoff = temporal_split(ev, fraction=0.8)
    assert cutoff == t0 + pd.Timedelta(days=80) and len(train_ev) == 3
    _, test2, _ = temporal_split(ev, holdout_days=5)
    assert len(test2) == 1
    split = make_eval_split(build_interactions(train_ev, {"purchase": 1.0}), test_ev)
    assert len(split.truth["all"]) == 1  # only user a is on both sides
    inter = split.train
    assert inter.user_ids[split.userids["all"][0]] == "a"
    assert [inter.item_ids[i] for i in split.truth["all"][0]] == ["x"]
    assert len(split.userids["new"]) == 0  # a re-bought x: nothing new


# --- two-stage ranking -----------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_score_items_equals_full_scores_at_the_candidates(name, recs_fitted, recs_planted):
    train, _ = recs_planted
    model = recs_fitted[name]
    users = np.arange(0, train.shape[0], 7)
    rows = train[users]
    cand = model.candidates(users, rows, 25)
    assert cand.shape[0] == len(users) and cand.shape[1] > 0
    cand[:, -1] = -1  # padding scores -inf
    scores = model.score_items(users, rows, cand)
    assert np.isneginf(scores[:, -1]).all()
    if name in ("blend", "ranker"):
        return  # normalised over the candidates: compared with recommend() below
    full = np.asarray(model._score(users, rows), dtype=np.float32)
    ok = cand >= 0
    np.testing.assert_allclose(
        scores[ok], np.take_along_axis(full, np.maximum(cand, 0), axis=1)[ok], rtol=1e-4, atol=1e-5
    )
    if model.score_floor() is not None:
        assert full.min() >= model.score_floor() - 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_every_candidate_is_allowed_and_distinct(name, recs_fitted, recs_planted):
    train, _ = recs_planted
    allowed = np.arange(0, N_ITEMS, 3)
    cand = recs_fitted[name].candidates(np.arange(40), train[:40], 30, items=allowed)
    for row in cand:
        ids = row[row >= 0]
        assert len(set(ids.tolist())) == len(ids)
        assert np.isin(ids, allowed).all()


@pytest.mark.parametrize("name", NAMES)
def test_ranking_every_item_as_candidate_equals_recommend(name, recs_fitted, recs_planted):
    if name == "ranker":
        pytest.skip("the ranker's features are normalised over its own candidates (a list, not the catalog)")
    train, _ = recs_planted
    model = recs_fitted[name]
    users = np.arange(0, train.shape[0], 5)
    rows = train[users]
    everything = np.broadcast_to(np.arange(N_ITEMS, dtype=np.int32), (len(users), N_ITEMS))
    allowed = np.arange(1, N_ITEMS, 2)
    ids, scores = model.rank_candidates(users, rows, everything, N=15, items=allowed)
    exact_ids, exact_scores = model.recommend(users, rows, N=15, items=allowed)
    np.testing.assert_allclose(scores, exact_scores, rtol=1e-4, atol=1e-5)
    agree = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(ids, exact_ids, strict=True)])
    assert agree > 0.98  # ties may order differently


def test_blend_two_stage_recall_against_exact(recs_fitted, recs_planted):
    train, _ = recs_planted
    parts = {c: recs_fitted[c] for c in ("repeat_buy", "popularity", "item_knn", "als")}
    blend = BlendRecommender(
        components=list(parts), weights={"repeat_buy": 2.0, "popularity": 1.0, "item_knn": 0.5, "als": 1.0}
    ).use_fitted(parts)
    users = np.arange(train.shape[0])
    exact, _ = blend.recommend(users, train, N=20)
    ids, _ = blend.rank_candidates(users, train, blend.candidates(users, train, 40), N=20)
    recall = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(ids, exact, strict=True)])
    assert recall >= 0.95


def test_ivf_first_stage_with_every_list_probed_equals_exact(recs_fitted, recs_planted):
    from models.recommenders.ann import IVFScorer

    train, _ = recs_planted
    als = recs_fitted["als"]
    users = np.arange(50)
    exact = als.candidates(users, train[:50], 20)
    try:
        als.use_ann(IVFScorer(nlist=8, nprobe=8))
        approx = als.candidates(users, train[:50], 20)
        allowed_only = als.candidates(users, train[:50], 20, items=np.arange(0, N_ITEMS, 2))
    finally:
        als.use_ann(None)
    assert (approx == exact).mean() > 0.98
    assert (allowed_only[allowed_only >= 0] % 2 == 0).all()


def test_candidate_helpers_match_dense_equivalents():
    from models.recommenders.candidates import csr_values, merge_candidates, row_top_n

    rng = np.random.default_rng(3)
    dense = rng.random((30, 50)).astype(np.float32) * (rng.random((30, 50)) < 0.2)
    m = sp.csr_matrix(dense)
    cand = rng.integers(-1, 50, (30, 12)).astype(np.int32)
    expected = np.where(cand >= 0, np.take_along_axis(dense, np.maximum(cand, 0), axis=1), 0.0)
    np.testing.assert_array_equal(csr_values(m, cand), expected)
    top = row_top_n(m, 4)
    for r in range(30):
        nz = np.flatnonzero(dense[r])
        best = nz[np.argsort(-dense[r, nz], kind="stable")][:4]
        assert top[r][top[r] >= 0].tolist() == best.tolist()
    merged = merge_candidates(np.array([[3, 1, -1]]), np.array([[1, 7, 3]]))
    assert merged.tolist() == [[1, 3, 7]]


def test_concurrent_first_fold_ins_on_a_fresh_model_never_fail(recs_fitted, recs_planted):
    """The service folds unknown shoppers in from many threads; the lazily cached Gram matrix must
    never be seen half-built (it once raised AttributeError under concurrent first requests)."""
    from concurrent.futures import ThreadPoolExecutor

    train, _ = recs_planted
    for _ in range(5):
        fresh = type(recs_fitted["als"])(**recs_fitted["als"].get_params())
        fresh.user_factors_, fresh.item_factors_ = (
            recs_fitted["als"].user_factors_,
            recs_fitted["als"].item_factors_,
        )
        fresh.n_users_, fresh.n_items_ = recs_fitted["als"].n_users_, recs_fitted["als"].n_items_
        with ThreadPoolExecutor(8) as pool:
            out = list(pool.map(lambda u, m=fresh: m.recommend(np.array([-1]), train[u], N=5)[0], range(32)))
        assert all((ids >= 0).all() for ids in out)


def test_ease_weights_are_steck_closed_form(recs_planted):
    """B = I - P / diag(P), P = (X'X + l2 I)^-1, zero diagonal: the Cholesky inverse gives Steck's
    weights (checked against numpy's LU inverse), and a singular Gram matrix is refused clearly."""
    train, _ = recs_planted
    model = EASERecommender(l2=50.0).fit(train)
    x = (train > 0).astype(np.float64).toarray()
    p = np.linalg.inv(x.T @ x + 50.0 * np.eye(x.shape[1]))
    expected = -p / np.diag(p)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.weights_, expected, atol=1e-6)
    unbought = sp.hstack([sp.csr_matrix((train.shape[0], 1)), train[:, :4]]).tocsr()  # item 0: no buyer
    with pytest.raises(np.linalg.LinAlgError, match="raise l2"):
        EASERecommender(l2=0.0).fit(unbought)
