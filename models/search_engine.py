"""Hybrid product search over one bundle: query understanding -> filters -> BM25 + dense
retrieval -> fusion -> bounded personalisation -> facets, with zero-result recovery.

The service and the batch/evaluation code call this one class, so what is measured offline is
what shoppers get.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from models import artifacts as A
from models.catalog import Catalog
from models.config import SearchSettings
from models.encoder import OnnxEncoder
from models.fusion import rrf
from models.lexical import BM25Index
from models.live.delta import DeltaIndex, ItemVectors
from models.lru import BoundedLRU
from models.query import ParsedQuery, QueryUnderstanding
from models.ranking import CandidateContext, SearchRanker, load_ranker, ranking_features
from models.rules import RuleSet
from models.text import tokenize
from models.vector_index import VectorIndex

FACET_FIELDS = ("top_category", "brand", "color", "size")
PRICE_BUCKETS = (0, 25, 50, 100, 250, 500, 1000, float("inf"))
_INTENT_LISTS = ("colors", "sizes", "brands", "materials", "expansions")
"""The list fields of a ParsedQuery: each cached intent handed out gets its own copies."""
POST_FILTER_MAX = 256
"""Up to this many trained products excluded (discontinued, say), FAISS searches unfiltered for
k + that many and drops them: a filtered search over nearly the whole catalog costs far more."""


def _missing_type_note(path: str, name: str, value: object) -> str:
    """What a shopper reads when a stated attribute was dropped to keep the product type:
    "no red Dresses; showing other Dresses", "no Dresses under 20; showing other Dresses"."""
    kind = path.split(">")[-1].strip()
    values = value if isinstance(value, (list, tuple, set)) else [value]
    text = " or ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
    described = {
        "price_max": f"{kind} under {text}",
        "price_min": f"{kind} from {text}",
        "size": f"{kind} in size {text}",
        "target": f"{kind} for {text}",
    }.get(name, f"{text} {kind}")  # colour, brand
    return f"no {described}; showing other {kind}"


def positions_in(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Position in ``before`` (distinct items) of each item of ``after``; -1 where it is absent."""
    if before.size == 0:
        return np.full(after.size, -1, dtype=np.int64)
    order = np.argsort(before, kind="stable")
    at = np.minimum(np.searchsorted(before, after, sorter=order), before.size - 1)
    found = before[order[at]] == after
    return np.where(found, order[at], -1).astype(np.int64)


@dataclass
class SearchFilters:
    """Hard filters a caller asks for; every field optional."""

    category: str | None = None
    brand: str | None = None
    color: str | None = None
    size: str | None = None
    price_min: float | None = None
    price_max: float | None = None
    store_id: str | None = None
    channel: str | None = None
    hidden: np.ndarray | None = None
    """Items this shopper may never see (member-only products above their tier): never relaxed."""


@dataclass
class SearchHit:
    item: int
    score: float
    bm25: float
    dense: float
    matches: bool = True
    """False for a result shown after the ``relaxed_from`` marker (it misses a stated constraint)."""


@dataclass
class SearchResult:
    hits: list[SearchHit]
    total: int
    intent: ParsedQuery
    applied_filters: dict[str, object]
    facets: dict[str, dict[str, int]]
    did_you_mean: str | None = None
    relaxed: list[str] = field(default_factory=list)
    relaxed_from: int | None = None
    """Position (0-based, in the whole ranking) where results that miss a stated constraint begin;
    ``None`` when every result satisfies every applied constraint. ``total`` counts those before it."""
    personalised: bool = False
    rules_fired: list[str] = field(default_factory=list)
    redirect: str | None = None
    low_confidence: bool = False
    """The best result matches no word of the query, is only a weak neighbour by meaning (cosine
    under ``min_dense_score``) and is not of a category the query names: shown, but no success to
    count (a query in a language or of words the service does not understand)."""


@dataclass
class SearchEngine:
    catalog: Catalog
    bm25: BM25Index
    vectors: VectorIndex
    encoder: OnnxEncoder
    query: QueryUnderstanding
    candidates: int = 200
    min_dense_score: float = 0.35
    personal_weight: float = 0.15
    neighbourhood: int = 20
    min_category_share: float = 0.1
    rules: RuleSet | None = None  # live merchandising rules; the service swaps this reference on PUT
    embeddings: np.ndarray | None = None  # (n_items, dim), memory-mapped from the bundle
    ranker: SearchRanker | None = None
    ranking_context: CandidateContext | None = None
    delta: DeltaIndex | None = None  # products added or changed since training (the live overlay)
    item_vectors: ItemVectors | None = None  # embeddings over the live item index (trained + delta)
    avgdl: float | None = None  # BM25 average document length, for scoring the delta
    intents: BoundedLRU[tuple[QueryUnderstanding, str], ParsedQuery] = field(
        default_factory=lambda: BoundedLRU(0)
    )
    """Parsed intents of head queries, by (query model, text). A parse depends only on the bundle's
    query model, so the live copies of this engine (``with_live``, a rules swap) share it, a new
    bundle loads a new engine with an empty one (nothing stale survives a swap), and a copy given
    another query model (an evaluation switching a layer off) never reads this one's parses."""

    def with_live(self, catalog: Catalog, delta: DeltaIndex) -> SearchEngine:
        """This engine over a live catalog (trained items first, then added ones) and the delta
        index of live product texts. Call it on the bundle's own engine: the ranking context is
        extended from the trained one, never from an earlier live copy."""
        context = self.ranking_context
        if context is not None and len(delta):
            context = context.with_products(catalog.products.iloc[delta.items], delta.items)
        avgdl = self.bm25.avgdl_
        if avgdl is None and len(delta):  # a bundle written before the average was stored
            avgdl = float(
                np.mean([len(self.bm25.document_tokens(r)) for r in self.catalog.products.to_dict("records")])
            )
        return replace(
            self,
            catalog=catalog,
            delta=delta,
            item_vectors=ItemVectors(self.embeddings, delta, len(catalog))
            if self.embeddings is not None
            else None,
            ranking_context=context,
            avgdl=avgdl,
        )

    def prepare(self) -> SearchEngine:
        """Number the facet columns now rather than on the first search (``Catalog.facet_codes``),
        so pre-forked workers share the codes; see ``BundleView.load``."""
        for f in FACET_FIELDS:
            self.catalog.facet_codes(f)
        return self

    def parse(self, q: str) -> ParsedQuery:
        """``self.query.parse(q)``, memoised per bundle. The caller gets its own copy: a search
        rewrites the intent it was given (expansions from the live rules, a vetoed category)."""
        cached = self.intents.get_or_compute((self.query, q), lambda key: key[0].parse(key[1]))
        # a shallow copy with fresh lists and category (a deep copy costs a tenth of a search)
        return cached.model_copy(
            update={name: list(getattr(cached, name)) for name in _INTENT_LISTS}
            | {"category": cached.category.model_copy() if cached.category is not None else None}
        )

    def intent_cached(self, q: str) -> bool:
        """Whether ``q``'s parse by this engine's query model is in the cache."""
        return (self.query, q) in self.intents

    def vectors_of(self, items: np.ndarray) -> np.ndarray:
        """Product vectors of ``items`` over the live item index."""
        if self.item_vectors is not None:
            return self.item_vectors.rows(items)
        return np.asarray(self.embeddings[items], dtype=np.float32)

    @classmethod
    def load(
        cls,
        bundle_dir: Path,
        catalog: Catalog,
        model_file: str = "model.onnx",
        threads: int = 1,
        settings: SearchSettings | None = None,
    ) -> SearchEngine:
        """The engine a bundle's search artifacts make, with the serving knobs of ``settings``
        (its defaults when None)."""
        bundle_dir = Path(bundle_dir)
        settings = settings or SearchSettings()
        cache_entries = settings.search_query_cache_entries
        return cls(
            catalog=catalog,
            bm25=BM25Index.load(bundle_dir / A.BM25_DIR),
            vectors=VectorIndex.load(bundle_dir / A.PRODUCT_INDEX_DIR),
            encoder=OnnxEncoder(
                bundle_dir / A.ENCODER_DIR, model_file=model_file, threads=threads, cache_size=cache_entries
            ),
            query=QueryUnderstanding.load(
                bundle_dir / A.QUERY_DIR, category_threshold=settings.query_category_threshold
            ),
            candidates=settings.search_rerank_candidates,
            min_dense_score=settings.search_min_dense_score,
            personal_weight=settings.search_personal_weight,
            # a plain ndarray over the same read-only mapping: np.memmap's subclass hooks cost more
            # than the row gathers they wrap, on every request
            embeddings=np.load(bundle_dir / A.PRODUCT_EMBEDDINGS, mmap_mode="r").view(np.ndarray),
            ranker=load_ranker(bundle_dir / A.RANKER) if (bundle_dir / A.RANKER).exists() else None,
            ranking_context=CandidateContext.from_products(
                catalog.products, np.load(bundle_dir / A.POPULARITY)
            ),
            intents=BoundedLRU(cache_entries),
        )

    # --- masks --------------------------------------------------------------------------------
    def _mask(self, filters: SearchFilters, constraints: dict[str, object], prices: np.ndarray) -> np.ndarray:
        """Items allowed by availability (store, channel: never relaxed) and the given constraints;
        price constraints read ``prices`` (the live price in the shopper's channel and store)."""
        catalog = self.catalog
        mask = catalog.active.copy()
        if filters.store_id:
            mask &= catalog.in_stock(filters.store_id)
        if filters.channel:
            mask &= catalog.available(filters.channel)
        if filters.hidden is not None:
            mask &= ~filters.hidden
        if (v := constraints.get("category")) is not None:
            mask &= catalog.category_mask(str(v))
        for col in ("brand", "color", "size", "target"):
            if (v := constraints.get(col)) is not None:
                values = {str(x).casefold() for x in (v if isinstance(v, (list, tuple, set)) else [v])}
                if col == "target":
                    values |= {"unisex"}
                mask &= catalog.value_mask(col, values)
        if (v := constraints.get("price_min")) is not None:
            mask &= prices >= float(v)
        if (v := constraints.get("price_max")) is not None:
            mask &= prices <= float(v)
        return mask

    def _named_type(
        self, parsed: ParsedQuery, filters: SearchFilters, chosen: dict[str, object], prices: np.ndarray
    ) -> np.ndarray | None:
        """Items of the product type the query confidently names that the shopper can get under
        their own filters; None when it names none or none is available."""
        if parsed.category is None or not parsed.category.applied:
            return None
        of_type = self.catalog.category_is(parsed.category.path) & self._mask(filters, chosen, prices)
        return of_type if of_type.any() else None

    @staticmethod
    def _explicit_constraints(filters: SearchFilters) -> dict[str, object]:
        keys = ("category", "brand", "color", "size", "price_min", "price_max")
        return {k: getattr(filters, k) for k in keys if getattr(filters, k) is not None}

    @staticmethod
    def _intent_constraints(parsed: ParsedQuery) -> dict[str, object]:
        """Constraints the query itself states, in the order they are relaxed when nothing matches."""
        out: dict[str, object] = {}
        if parsed.price_max is not None:
            out["price_max"] = parsed.price_max
        if parsed.price_min is not None:
            out["price_min"] = parsed.price_min
        if parsed.colors:
            out["color"] = list(parsed.colors)
        if parsed.sizes:
            out["size"] = list(parsed.sizes)
        if parsed.brands:
            out["brand"] = list(parsed.brands)
        if parsed.target:
            out["target"] = parsed.target
        return out

    # --- retrieval ----------------------------------------------------------------------------
    def _retrieve(
        self,
        text: str,
        mask: np.ndarray,
        dense_only: bool = False,
        min_dense: float | None = None,
        expansions: list[str] | tuple[str, ...] = (),
        lexical: np.ndarray | None = None,
        query_vec: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidate items within ``mask`` with their BM25 and dense scores (aligned arrays).

        ``lexical`` reuses a full BM25 score vector already computed for this text in this request,
        ``query_vec`` its encoding (a request retrieves up to four times with the same text).
        """
        n_allowed = int(np.count_nonzero(mask))
        if n_allowed == 0:
            return np.empty(0, np.int64), np.empty(0), np.empty(0)
        n = min(self.candidates, n_allowed)
        if lexical is None:
            lexical = (
                self.lexical_scores(text, expansions)
                if not dense_only
                else np.zeros(len(self.catalog), np.float32)
            )
        # only matching documents compete for the lexical slots: a top-n over them, not the catalog
        matching = np.flatnonzero(lexical > 0)
        matching = matching[mask[matching]]
        if matching.size > n:
            matching = matching[np.argpartition(-lexical[matching], n - 1)[:n]]
        lex_top = matching
        if query_vec is None:
            query_vec = self.encoder.encode_query(text or " ")
        dense_items, dense_scores = self.dense_search(query_vec, n, mask)
        floor = self.min_dense_score if min_dense is None else min_dense
        dense_items = dense_items[dense_scores >= floor]
        items = np.unique(np.concatenate([lex_top, dense_items]))
        # exact cosine for every candidate, also those the lexical side brought in
        return (
            items,
            lexical[items].astype(np.float64),
            np.asarray(self.vectors_of(items) @ query_vec, dtype=np.float64),
        )

    def dense_search(self, query_vec: np.ndarray, n: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items within ``mask`` by cosine: the bundle's FAISS index over trained items,
        and an exhaustive pass over the delta (products added or changed since training)."""
        n_trained = len(self.vectors)
        trained = mask[:n_trained]
        excluded = n_trained - int(np.count_nonzero(trained))
        if excluded == 0:
            items, scores = self.vectors.search_positions(query_vec, n, None, matrix=self.embeddings)
        elif excluded <= POST_FILTER_MAX:
            items, scores = self.vectors.search_positions(
                query_vec, n + excluded, None, matrix=self.embeddings
            )
            keep = trained[items]
            items, scores = items[keep][:n], scores[keep][:n]
        else:
            items, scores = self.vectors.search_positions(query_vec, n, trained, matrix=self.embeddings)
        if self.delta is None or not len(self.delta):
            return items, scores
        live = mask[self.delta.items]
        extra_items = self.delta.items[live]
        extra_scores = (self.delta.embeddings[live] @ query_vec).astype(np.float32)
        stale = np.isin(items, extra_items)  # trained items whose text changed: the delta's vector wins
        items = np.concatenate([items[~stale], extra_items])
        scores = np.concatenate([scores[~stale], extra_scores])
        top = np.argsort(-scores, kind="stable")[:n]
        return items[top], scores[top]

    def content_neighbours(self, item: int, k: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` products within ``mask`` closest to ``item`` by text meaning (itself excluded),
        with their cosines: how a product with no behaviour yet, or one added since training, finds
        its neighbours."""
        query_vec = self.vectors_of(np.array([item]))[0]
        mask = mask.copy()
        mask[item] = False
        return self.dense_search(query_vec, k, mask)

    def content_similarity(self, item: int, items: np.ndarray) -> np.ndarray:
        """Cosine of ``item``'s product vector with each of ``items`` (live item index)."""
        items = np.asarray(items, dtype=np.int64)
        if items.size == 0:
            return np.empty(0, np.float32)
        return np.asarray(self.vectors_of(items) @ self.vectors_of(np.array([item]))[0], dtype=np.float32)

    def lexical_scores(self, text: str, expansions: list[str] | tuple[str, ...] = ()) -> np.ndarray:
        """BM25 score of every product, the best over the text and its synonym rewrites."""
        if not text.strip():
            return np.zeros(len(self.catalog), np.float32)
        scores = self._bm25(text)
        for alt in expansions:  # synonym rewrites: matching any phrasing makes a candidate
            scores = np.maximum(scores, self._bm25(alt))
        return scores

    def _bm25(self, text: str) -> np.ndarray:
        """BM25 over the live item index: the bundle's index, and the delta's live texts (which
        replace the trained text of a product changed since training)."""
        trained = np.asarray(self.bm25.scores(text), dtype=np.float32)
        if self.delta is None or (not len(self.delta) and trained.size == len(self.catalog)):
            return trained
        scores = np.zeros(len(self.catalog), np.float32)
        scores[: trained.size] = trained
        scores[self.delta.items] = self.delta.lexical(self.bm25, text, self.avgdl or 1.0)
        return scores

    def _add_category_candidates(
        self,
        text: str,
        mask: np.ndarray,
        path: str,
        items: np.ndarray,
        lexical: np.ndarray,
        dense: np.ndarray,
        full_lexical: np.ndarray | None = None,
        query_vec: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A confident category intent also retrieves inside that category, so words the catalog
        does not use ("tênis", "thermos") still reach the products the shopper means."""
        in_category = mask & self.catalog.category_is(path)
        if not in_category.any():
            return items, lexical, dense
        extra, extra_lex, extra_dense = self._retrieve(
            text, in_category, min_dense=0.0, lexical=full_lexical, query_vec=query_vec
        )
        new = ~np.isin(extra, items)
        return (
            np.concatenate([items, extra[new]]),
            np.concatenate([lexical, extra_lex[new]]),
            np.concatenate([dense, extra_dense[new]]),
        )

    @staticmethod
    def _fuse(items: np.ndarray, lexical: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """Reciprocal rank fusion of the two retrievers' orders over the candidate set."""
        rankings = []
        for scores in (lexical, dense):
            order = np.argsort(-scores, kind="stable")
            rankings.append([str(items[i]) for i in order[scores[order] > 0]])
        fused_ids, fused_scores = rrf(rankings)
        score = dict(zip(fused_ids, fused_scores, strict=True))
        return np.array([score.get(str(i), 0.0) for i in items])

    def relevance(
        self, parsed: ParsedQuery, items: np.ndarray, lexical: np.ndarray, dense: np.ndarray
    ) -> np.ndarray:
        """Learned ranker probability when the bundle has one, else RRF with a category boost."""
        if items.size == 0:
            return np.empty(0)
        if self.ranker is not None and self.ranking_context is not None:
            logits = self.ranker.predict(
                ranking_features(self.ranking_context, parsed, items, lexical, dense)
            )
            return 1.0 / (1.0 + np.exp(-logits))
        scores = self._fuse(items, lexical, dense)
        if parsed.category is not None and parsed.category.applied:
            in_category = self.catalog.column["category"][items] == parsed.category.path
            scores = scores * np.where(in_category, 1.0 + parsed.category.confidence, 1.0)
        return scores

    def ranking_candidates(self, q: str) -> tuple[ParsedQuery, np.ndarray, np.ndarray, np.ndarray]:
        """Unfiltered candidates of a query with both retrievers' scores (for training the ranker)."""
        parsed = self.query.parse(q)
        text = parsed.text if parsed.text.strip() else q
        mask = np.ones(len(self.catalog), dtype=bool)
        full = self.lexical_scores(text)
        items, lexical, dense = self._retrieve(text, mask, lexical=full)
        self._confirm_category(parsed, items, dense)
        if parsed.category is not None and parsed.category.applied:
            items, lexical, dense = self._add_category_candidates(
                text, mask, parsed.category.path, items, lexical, dense, full_lexical=full
            )
        return parsed, items, lexical, dense

    def _confirm_category(self, parsed: ParsedQuery, items: np.ndarray, dense: np.ndarray) -> None:
        """Keep the classifier's category only if the closest products by meaning agree.

        The classifier reads words ("keep coffee hot" -> coffee beans); the encoder reads meaning
        (mugs, flasks). A category absent from a confident semantic neighbourhood (mean cosine at
        least the floor used to accept dense matches) is a misreading.
        """
        if parsed.category is None or not parsed.category.applied or items.size == 0:
            return
        top = np.argsort(-dense, kind="stable")[: self.neighbourhood]
        if float(dense[top].mean()) < self.min_dense_score:
            return  # the encoder does not understand this query either (e.g. Hindi): no veto
        share = float(np.mean(self.catalog.column["category"][items[top]] == parsed.category.path))
        if share < self.min_category_share:
            parsed.category = parsed.category.model_copy(update={"applied": False})
            parsed.explain = parsed.build_explain()

    # --- public -------------------------------------------------------------------------------
    def search(
        self,
        q: str,
        k: int = 20,
        page: int = 1,
        filters: SearchFilters | None = None,
        affinity: dict[str, float] | None = None,
        prices: np.ndarray | None = None,
    ) -> SearchResult:
        """``prices``: every product's price for this shopper (live, channel and store overrides,
        sales: ``Catalog.price_view``); price filters, "under 50" and the price facet read it.
        Without it, the catalog's base prices."""
        filters = filters or SearchFilters()
        prices = self.catalog.prices if prices is None else prices
        parsed = self.parse(q)
        rules = self.rules  # read once: a PUT swaps it between requests, never during one
        if rules is not None:
            parsed.expansions = rules.expand(parsed.text)
        if parsed.kept:  # untranslated Bengali/Hindi words match a catalog's titles in that script
            parsed.expansions = [*parsed.expansions, parsed.kept]
        text = parsed.text if parsed.text.strip() else q
        full = self.lexical_scores(text, parsed.expansions)  # once per request, reused below
        vec = self.encoder.encode_query(text or " ")  # likewise
        # Relaxation order: what the query implied (last stated first), then the shopper's own filters.
        stated = list(self._intent_constraints(parsed).items())
        chosen = list(self._explicit_constraints(filters).items())
        relaxed: list[str] = []
        # the shopper's own filters are relaxed only after every stated constraint, so this holds
        # for as long as a stated one is left
        of_type = self._named_type(parsed, filters, dict(chosen), prices) if stated else None
        while True:
            constraints = dict(stated + chosen)  # explicit filters win over parsed ones
            mask = self._mask(filters, constraints, prices)
            if stated and of_type is not None and not (of_type & mask).any():
                # "red dress" with no red dress: the product named outranks the colour asked for
                # (dresses in other colours, said so), not red products of any kind. Relax the
                # last-stated constraint whose absence alone brings the type back, else the last.
                drop = next(
                    (
                        i
                        for i in reversed(range(len(stated)))
                        if (
                            of_type & self._mask(filters, dict(stated[:i] + stated[i + 1 :] + chosen), prices)
                        ).any()
                    ),
                    len(stated) - 1,
                )
                name, value = stated.pop(drop)
                relaxed.append(_missing_type_note(parsed.category.path, name, value))
                continue
            # a gift or a recipient ("birthday", "something nice for my wife"): the words name no
            # product, the constraints are the query, so any product within them may answer
            # (dense, with no score floor) before a constraint is relaxed
            open_intent = parsed.is_gift or parsed.target is not None
            items, lexical, dense = self._retrieve(
                text, mask, lexical=full, min_dense=0.0 if open_intent else None, query_vec=vec
            )
            if items.size or not (stated or chosen):
                break
            name, value = (stated or chosen).pop()
            relaxed.append(f"no results with {name}={value}; relaxed it")
        if items.size == 0 and text.strip():
            items, lexical, dense = self._retrieve(
                text, self._mask(filters, {}, prices), dense_only=True, min_dense=0.0, query_vec=vec
            )
            if items.size:
                relaxed.append("no keyword match; showing the closest products by meaning")
        self._confirm_category(parsed, items, dense)
        if items.size and parsed.category is not None and parsed.category.applied:
            items, lexical, dense = self._add_category_candidates(
                text, mask, parsed.category.path, items, lexical, dense, full_lexical=full, query_vec=vec
            )
        if items.size and constraints.get("target") is not None:
            # "for dad": also retrieve among products made for that target exactly, which the
            # far more numerous unisex ones would otherwise crowd out of the candidates
            exact = mask & self.catalog.value_mask("target", {str(constraints["target"]).casefold()})
            if exact.any():
                items, lexical, dense = self._add_candidates(
                    text, exact, items, lexical, dense, full, query_vec=vec
                )
        scores = self.relevance(parsed, items, lexical, dense)
        personalised = False
        if affinity and items.size:
            cats = self.catalog.column["top_category"][items]
            boost = np.array([affinity.get(c, 0.0) for c in cats])
            scores = scores * (1.0 + self.personal_weight * boost)
            personalised = bool(boost.any())
        scores = self._known_item_first(q, items, scores)
        order = np.argsort(-scores, kind="stable")
        items, scores, lexical, dense = items[order], scores[order], lexical[order], dense[order]
        rules_fired, redirect, pinned = [], None, frozenset()
        if rules is not None:  # merchandising (hide, boost/bury, pin) on the whole fused ranking
            before = items
            items, scores, rules_fired, redirect, pinned = rules.apply(
                q, items, scores, self.catalog, allowed=mask
            )
            src = positions_in(before, items)  # -1: a pinned product that was no candidate
            lexical, dense = np.append(lexical, 0.0)[src], np.append(dense, 0.0)[src]
        matches, missed = self.stated_matches(parsed, constraints, items)
        if pinned:  # a merchandiser's pin is an answer to this query, whatever it names
            matches = matches | np.isin(items, list(pinned))
        # a broad intent: a gift, or nothing but constraints ("for dad under 50"), no product type named
        broad = (parsed.category is None or not parsed.category.applied) and (
            parsed.is_gift or parsed.target is not None or not parsed.text.strip()
        )
        order = self.honest_order(matches, self.catalog.column["category"][items], diversify=broad)
        items, scores, lexical, dense = items[order], scores[order], lexical[order], dense[order]
        matches = matches[order]
        n_match = int(matches.sum())
        relaxed_from = None
        if any(m.startswith("nothing in ") for m in missed):
            relaxed.append(next(m for m in missed if m.startswith("nothing in ")))
            missed = [m for m in missed if not m.startswith("nothing in ")]
        if missed and 0 < n_match < items.size:
            relaxed_from = n_match
            relaxed.append(
                f"{items.size - n_match} more results that are not {' / '.join(missed)} follow after result {n_match}"
            )
        # a weak guess: the best result matches no word, is only a weak neighbour by meaning, and is
        # not of a category the query was understood to name ("tênis de corrida" is understood)
        understood = (
            parsed.category is not None
            and parsed.category.applied
            and bool(items.size)
            and self.catalog.column["category"][items[0]] == parsed.category.path
        )
        low_confidence = (
            bool(items.size) and lexical[0] <= 0 and dense[0] < self.min_dense_score and not understood
        )
        start = (page - 1) * k
        hits = [
            SearchHit(int(i), float(s), float(lx), float(dn), bool(mt))
            for i, s, lx, dn, mt in zip(
                items[start : start + k],
                scores[start : start + k],
                lexical[start : start + k],
                dense[start : start + k],
                matches[start : start + k],
                strict=True,
            )
        ]
        applied = {
            k_: v for k_, v in vars(filters).items() if v is not None and k_ in ("store_id", "channel")
        } | constraints
        return SearchResult(
            hits=hits,
            total=n_match if relaxed_from is not None else int(items.size),
            relaxed_from=relaxed_from,
            intent=parsed,
            applied_filters=applied,
            facets=self.facets(
                items if relaxed_from is None else items[:relaxed_from], prices
            ),  # what total counts
            did_you_mean=parsed.corrected,
            relaxed=relaxed,
            personalised=personalised,
            rules_fired=rules_fired,
            redirect=redirect,
            low_confidence=low_confidence,
        )

    def _add_candidates(
        self,
        text: str,
        within: np.ndarray,
        items: np.ndarray,
        lexical: np.ndarray,
        dense: np.ndarray,
        full_lexical: np.ndarray,
        query_vec: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates retrieved inside ``within`` (any dense score) added to the current ones."""
        extra, extra_lex, extra_dense = self._retrieve(
            text, within, min_dense=0.0, lexical=full_lexical, query_vec=query_vec
        )
        new = ~np.isin(extra, items)
        return (
            np.concatenate([items, extra[new]]),
            np.concatenate([lexical, extra_lex[new]]),
            np.concatenate([dense, extra_dense[new]]),
        )

    def stated_matches(
        self, parsed: ParsedQuery, constraints: dict[str, object], items: np.ndarray
    ) -> tuple[np.ndarray, list[str]]:
        """Per item: does it satisfy what the query states, read strictly? (mask, what is checked).

        The hard filters already hold for every candidate; two stated constraints are looser there:
        the category the query names (a ranking signal, so neighbouring categories can fill a page)
        and the target, where unisex products also pass ("for dad" includes a unisex mug). A
        strict miss is never hidden: it is ranked after every strict match, behind a marker.
        """
        ok = np.ones(items.size, dtype=bool)
        checked: list[str] = []
        if items.size == 0:
            return ok, checked
        if parsed.category is not None and parsed.category.applied:
            in_category = self.catalog.column["category"][items] == parsed.category.path
            if in_category.any():
                ok &= in_category
                checked.append(f"in {parsed.category.path}")
            else:  # nothing of that type passes the other constraints: say so, never claim it applied
                parsed.category = parsed.category.model_copy(update={"applied": False})
                parsed.explain = parsed.build_explain()
                checked.append(f"nothing in {parsed.category.path} matches; other categories shown")
        target = constraints.get("target")
        if target is not None and "target" in self.catalog.folded:
            exact = self.catalog.folded["target"][items] == str(target).casefold()
            if (ok & exact).any():
                ok &= exact
                checked.append(f"for {target}")
        return ok, checked

    @staticmethod
    def honest_order(
        matches: np.ndarray, categories: np.ndarray, diversify: bool, per_category: int = 3, window: int = 10
    ) -> np.ndarray:
        """A stable order: strict matches first, then the rest (the ranking within each kept).

        ``diversify`` (a broad intent such as "gift for dad under 50", no product type named):
        within the first ``window`` strict matches at most ``per_category`` of one category; the
        others move down, never out, so a page shows several kinds of gift.
        """
        first = np.flatnonzero(matches)
        rest = np.flatnonzero(~matches)
        if diversify and first.size > window:
            head: list[int] = []
            deferred: list[int] = []
            taken: dict[object, int] = {}
            for pos in first.tolist():
                c = categories[pos]
                if len(head) < window and taken.get(c, 0) < per_category:
                    taken[c] = taken.get(c, 0) + 1
                    head.append(pos)
                else:
                    deferred.append(pos)
            first = np.array(head + deferred, dtype=np.int64)
        return np.concatenate([first, rest]).astype(np.int64)

    def _known_item_first(self, q: str, items: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """A shopper who types a product's whole title (any order, any case) or its sku means that
        product: it goes first, whatever the ranker makes of its popularity. This matters most for
        products added since training, which have no behaviour for the ranker to go on."""
        if items.size == 0:
            return scores
        words = frozenset(tokenize(q))
        if not words:
            return scores
        if self.ranking_context is not None:
            titles = self.ranking_context.title_sets[items]
        else:
            titles = np.empty(items.size, dtype=object)
            titles[:] = [frozenset(tokenize(t)) for t in self.catalog.column["title"][items]]
        # one C loop of set comparisons, not a Python loop over the candidates
        exact = np.equal(titles, np.array(words, dtype=object)).astype(bool)
        exact |= self.catalog.folded_skus[items] == q.strip().casefold()
        if not exact.any():
            return scores
        return np.where(exact, scores.max() + 1.0 + scores, scores)

    def facets(self, items: np.ndarray, prices: np.ndarray | None = None) -> dict[str, dict[str, int]]:
        """Counts over the whole result set, not only the page shown (price buckets of ``prices``)."""
        out: dict[str, dict[str, int]] = {}
        for f in FACET_FIELDS:
            # codes number the column's values in sorted order, so counting codes is np.unique's
            # sorted (name, count) without a Python pass over the result set
            codes, names = self.catalog.facet_codes(f)
            picked = codes[items]
            counts = np.bincount(picked[picked >= 0], minlength=len(names))
            present = np.flatnonzero(counts)
            top = present[np.argsort(-counts[present], kind="stable")[:20]]
            out[f] = {str(names[i]): int(counts[i]) for i in top}
        prices = (self.catalog.prices if prices is None else prices)[items]
        edges = np.asarray(PRICE_BUCKETS)
        bucket = np.searchsorted(edges, prices, side="right") - 1
        out["price"] = {}
        for b, n in zip(*np.unique(bucket, return_counts=True), strict=True):
            lo, hi = edges[b], edges[b + 1]
            out["price"][f"{int(lo)}+" if hi == float("inf") else f"{int(lo)}-{int(hi)}"] = int(n)
        return out
