"""Where each artifact lives inside a bundle: one list, read by the writer and every reader."""

QUARANTINE = "reports/quarantine.jsonl"
REPORT = "reports/report.md"
PLOTS_DIR = "reports/plots"
IDENTITY_MAP = "identity/identity_map.parquet"
CUSTOMERS = "identity/customers.parquet"
CATALOG_DIR = "catalog"
STORES = "catalog/stores.parquet"
ENCODER_DIR = "encoder"
FINETUNE_DIR = "finetune"
PRODUCT_EMBEDDINGS = "search/product_embeddings.npy"
PRODUCT_INDEX_DIR = "search/product_index"
BM25_DIR = "search/bm25"
QUERY_DIR = "search/query"
RANKER = "search/ranker.json"
RULES = "search/rules.json"
SUGGEST_DIR = "search/suggest"
BLEND_DIR = "recs/blend"
USER_ITEMS = "recs/user_items.npz"
USER_IDS = "recs/user_ids.json"
ALS_INDEX_DIR = "recs/als_index"
CATEGORY_AFFINITY = "recs/category_affinity.parquet"
COPURCHASE_DIR = "recs/copurchase"
TRENDING = "recs/trending.parquet"
HISTORY = "recs/history.parquet"
PRODUCT_KNOWLEDGE = "recs/product_knowledge.json"
RECS_RANKER_DIR = "recs/ranker"
SURFACES_REPORT = "reports/surfaces.json"
MODEL_FILE = "model.onnx"
INT8_MODEL_FILE = "model.int8.onnx"


def query_model_file(manifest: dict) -> str:
    """The query encoder the training run chose: int8 when it kept NDCG within budget."""
    kept = manifest.get("metrics", {}).get("encoder", {}).get("int8", {}).get("kept", False)
    return INT8_MODEL_FILE if kept else MODEL_FILE


POPULARITY = "search/popularity.npy"
