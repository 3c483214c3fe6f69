"""Temporary: warm the Home Depot embedding cache in the background (deleted after the run)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import cached_title_embeddings  # noqa: E402

cached_title_embeddings(Path(sys.argv[1]), Path(sys.argv[2]))
