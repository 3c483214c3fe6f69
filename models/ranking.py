"""The learned search ranker: one feature function for training and serving, two kinds of model.

Features are computed by ``ranking_features`` only, so what the ranker learned offline is exactly
what it sees online. Training fits both kinds and keeps the one that wins on held-out logged queries
(``training/ranker.py``); either is stored as one JSON file (``search/ranker.json``, no pickle):

- ``LinearRanker``: a logistic regression (mean, scale, coefficients), scored with numpy;
- ``BoostedRanker``: LightGBM LambdaMART (the booster in LightGBM's own text format inside the
  JSON), for what a weighted sum cannot express: a strong BM25 score that matters only when the
  title also names the product type, a dense score that means little on a short title.

``load_ranker`` reads either.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.boosting import fit_lambdamart
from models.query import ParsedQuery
from models.text import tokenize

FEATURES = (
    "bm25_norm",
    "bm25_log",
    "dense",
    "lexical_rrf",
    "dense_rrf",
    "title_overlap",
    "category_match",
    "top_category_match",
    "color_match",
    "brand_match",
    "size_match",
    "target_match",
    "price_fit",
    "popularity",
    "dense_category_share",
    "title_contains_query",
    "bm25_x_overlap",
)
NEIGHBOURHOOD = 20
RRF_K = 60.0


@dataclass
class CandidateContext:
    """Per-catalog arrays the features read (built once when a bundle loads)."""

    categories: np.ndarray  # full category path per item
    top_categories: np.ndarray
    colors: np.ndarray  # casefolded
    brands: np.ndarray
    sizes: np.ndarray
    targets: np.ndarray
    prices: np.ndarray
    popularity: np.ndarray  # log1p of purchases, scaled to [0, 1]
    title_tokens: list[frozenset[str]]
    title_sets: np.ndarray = field(init=False, repr=False)
    """``title_tokens`` as an object array: a whole-title match is one vectorised comparison."""

    def __post_init__(self) -> None:
        self.title_sets = np.empty(len(self.title_tokens), dtype=object)
        self.title_sets[:] = self.title_tokens

    @classmethod
    def from_products(cls, products, popularity: np.ndarray) -> CandidateContext:
        def col(name: str) -> np.ndarray:
            if name not in products.columns:
                return np.full(len(products), "", dtype=object)
            return products[name].fillna("").astype(str).str.casefold().to_numpy(dtype=object)

        pop = np.log1p(np.asarray(popularity, dtype=np.float64))
        return cls(
            categories=products["category"].astype(str).to_numpy(dtype=object),
            top_categories=products["top_category"].astype(str).to_numpy(dtype=object),
            colors=col("color"),
            brands=col("brand"),
            sizes=col("size"),
            targets=col("target"),
            prices=products["price"].to_numpy(dtype=np.float64),
            popularity=pop / pop.max() if pop.max() > 0 else pop,
            title_tokens=[frozenset(tokenize(t)) for t in products["title"].astype(str)],
        )

    def with_products(self, products, items: np.ndarray) -> CandidateContext:
        """This context with the rows of live products (added or changed since training) written
        at ``items``; a changed product keeps its popularity."""
        items = np.asarray(items, dtype=np.int64)
        part = CandidateContext.from_products(products, np.zeros(len(products)))
        n = max(len(self.prices), int(items.max()) + 1 if items.size else 0)

        def put(base: np.ndarray, new: np.ndarray) -> np.ndarray:
            out = np.empty(n, dtype=base.dtype)
            out[: len(base)] = base
            out[items] = new
            return out

        popularity = np.zeros(n)
        popularity[: len(self.popularity)] = self.popularity
        # A product new since training has no purchases yet, which is not evidence that nobody wants
        # it: it gets the median popularity of its category (of the catalog when the category is new).
        trained = len(self.popularity)
        for item, category in zip(items.tolist(), part.categories, strict=True):
            if item >= trained:
                peers = self.popularity[self.categories == category]
                popularity[item] = float(np.median(peers if peers.size else self.popularity))
        title_tokens = [*self.title_tokens, *([frozenset()] * (n - len(self.title_tokens)))]
        for item, tokens in zip(items.tolist(), part.title_tokens, strict=True):
            title_tokens[item] = tokens
        return CandidateContext(
            categories=put(self.categories, part.categories),
            top_categories=put(self.top_categories, part.top_categories),
            colors=put(self.colors, part.colors),
            brands=put(self.brands, part.brands),
            sizes=put(self.sizes, part.sizes),
            targets=put(self.targets, part.targets),
            prices=put(self.prices, part.prices),
            popularity=popularity,
            title_tokens=title_tokens,
        )


def _rank_reciprocal(scores: np.ndarray) -> np.ndarray:
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    return np.where(scores > 0, 1.0 / (RRF_K + ranks), 0.0)


def _matches(values: np.ndarray, wanted: list[str] | None) -> np.ndarray:
    if not wanted:
        return np.zeros(len(values))
    wanted_list = sorted({w.casefold() for w in wanted})
    return np.where(np.isin(values, np.asarray(wanted_list, dtype=object)), 1.0, -1.0)


def ranking_features(
    ctx: CandidateContext, parsed: ParsedQuery, items: np.ndarray, lexical: np.ndarray, dense: np.ndarray
) -> np.ndarray:
    """(len(items), len(FEATURES)) float matrix; the single definition used offline and online."""
    n = len(items)
    out = np.zeros((n, len(FEATURES)))
    if n == 0:
        return out
    top = lexical.max() if lexical.size else 0.0
    out[:, 0] = lexical / top if top > 0 else 0.0
    out[:, 1] = np.log1p(lexical)
    out[:, 2] = dense
    out[:, 3] = _rank_reciprocal(lexical) * RRF_K
    out[:, 4] = _rank_reciprocal(dense) * RRF_K
    query_tokens = set(tokenize(parsed.text or parsed.query))
    if query_tokens:
        out[:, 5] = [len(query_tokens & ctx.title_tokens[i]) / len(query_tokens) for i in items]
    if parsed.category is not None and parsed.category.applied:
        conf = parsed.category.confidence
        out[:, 6] = np.where(ctx.categories[items] == parsed.category.path, conf, 0.0)
        top_cat = parsed.category.path.split(">")[0].strip()
        out[:, 7] = np.where(ctx.top_categories[items] == top_cat, conf, 0.0)
    out[:, 8] = _matches(ctx.colors[items], parsed.colors)
    out[:, 9] = _matches(ctx.brands[items], parsed.brands)
    out[:, 10] = _matches(ctx.sizes[items], parsed.sizes)
    if parsed.target:
        out[:, 11] = np.where(np.isin(ctx.targets[items], [parsed.target.casefold(), "unisex"]), 1.0, -1.0)
    prices = ctx.prices[items]
    fit = np.ones(n)
    if parsed.price_max is not None:
        fit = np.where(prices <= parsed.price_max, fit, -1.0)
    if parsed.price_min is not None:
        fit = np.where(prices >= parsed.price_min, fit, -1.0)
    out[:, 12] = fit if (parsed.price_max is not None or parsed.price_min is not None) else 0.0
    out[:, 13] = ctx.popularity[items]
    # what the closest products by meaning are: "keep coffee hot" -> mugs, whatever the words say
    cats = ctx.categories[items]
    near = cats[np.argsort(-dense, kind="stable")[:NEIGHBOURHOOD]]
    values, counts = np.unique(near, return_counts=True)  # sorted: each category found by bisection
    at = np.minimum(np.searchsorted(values, cats), len(values) - 1)
    out[:, 14] = np.where(values[at] == cats, (counts / len(near))[at], 0.0)
    # a product named in full ("seed kit Greenroot Solis Air") beats any category prior
    out[:, 15] = out[:, 5] >= 0.999
    out[:, 16] = out[:, 0] * out[:, 5]
    return out


class LinearRanker:
    """Standardised logistic-regression scores; ``fit`` uses scikit-learn, ``predict`` numpy."""

    kind = "linear"

    def __init__(self, C: float = 1.0) -> None:
        self.C = C

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> LinearRanker:
        from sklearn.linear_model import LogisticRegression

        self.mean_ = X.mean(axis=0)
        self.scale_ = np.where(X.std(axis=0) > 1e-9, X.std(axis=0), 1.0)
        model = LogisticRegression(C=self.C, max_iter=1000, class_weight="balanced")
        model.fit((X - self.mean_) / self.scale_, y, sample_weight=sample_weight)
        self.coef_ = model.coef_.ravel()
        self.intercept_ = float(model.intercept_[0])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean_) / self.scale_) @ self.coef_ + self.intercept_

    def save(self, path: Path) -> None:
        Path(path).write_text(
            json.dumps(
                {
                    "kind": self.kind,
                    "features": list(FEATURES),
                    "C": self.C,
                    "mean": self.mean_.tolist(),
                    "scale": self.scale_.tolist(),
                    "coef": self.coef_.tolist(),
                    "intercept": self.intercept_,
                },
                indent=2,
            )
        )

    @classmethod
    def from_saved(cls, data: dict) -> LinearRanker:
        model = cls(C=data["C"])
        model.mean_, model.scale_ = np.array(data["mean"]), np.array(data["scale"])
        model.coef_, model.intercept_ = np.array(data["coef"]), float(data["intercept"])
        return model


class BoostedRanker:
    """LightGBM LambdaMART over ``FEATURES``, trained on query groups; ``predict`` returns raw scores
    (higher is better; the engine squashes them like the linear logits). One thread: a request
    scores a few hundred candidates, where LightGBM's thread start costs more than it saves."""

    kind = "lambdamart"

    def __init__(
        self,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray, group: np.ndarray) -> BoostedRanker:
        """``group``: the number of consecutive rows of each query (LightGBM's ``group``)."""
        self.booster_ = fit_lambdamart(
            X,
            y,
            group,
            n_estimators=self.n_estimators,
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            seed=self.seed,
        )
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.booster_.predict(np.asarray(X, dtype=np.float64), num_threads=1)

    def feature_importance(self) -> dict[str, float]:
        """Share of the total split gain per feature (recorded in the manifest beside the linear
        ranker's coefficients)."""
        gain = self.booster_.feature_importance(importance_type="gain")
        return dict(zip(FEATURES, np.round(gain / max(gain.sum(), 1e-12), 4).tolist(), strict=True))

    def save(self, path: Path) -> None:
        Path(path).write_text(
            json.dumps(
                {
                    "kind": self.kind,
                    "features": list(FEATURES),
                    "params": {
                        "n_estimators": self.n_estimators,
                        "learning_rate": self.learning_rate,
                        "num_leaves": self.num_leaves,
                        "min_child_samples": self.min_child_samples,
                        "seed": self.seed,
                    },
                    "model": self.booster_.model_to_string(),
                }
            )
        )

    @classmethod
    def from_saved(cls, data: dict) -> BoostedRanker:
        import lightgbm as lgb

        model = cls(**data["params"])
        model.booster_ = lgb.Booster(model_str=data["model"])
        return model


SearchRanker = LinearRanker | BoostedRanker


def load_ranker(path: Path) -> SearchRanker:
    """The ranker saved at ``path``, of whichever kind training kept (files without a kind: linear)."""
    data = json.loads(Path(path).read_text())
    if data["features"] != list(FEATURES):
        raise ValueError(
            f"ranker in {path} was trained on features {data['features']}; this version computes {list(FEATURES)}"
        )
    kinds = {k.kind: k for k in (LinearRanker, BoostedRanker)}
    kind = data.get("kind", LinearRanker.kind)
    if kind not in kinds:
        raise ValueError(f"ranker in {path} is of unknown kind {kind!r}")
    return kinds[kind].from_saved(data)
