"""Caches that let a retrain skip work its inputs did not change: the exported ONNX encoder and the
product-text embeddings.

Why: catalog embedding is the slowest training stage (minutes on the sample's 3k products, hours at
1M on 2 cores), yet a nightly retrain sees mostly the same product texts with the same encoder. The
encoder export (torch load, ONNX export, int8 quantisation) is cached by the digest of the source
model's files; each product text's vector is cached under that encoder by the digest of the text,
so only new or edited products are encoded. Both live under ``Settings.cache_dir``; deleting the
folder is always safe (the next run recomputes).

A cache entry is written whole or not at all (one atomic write per shard, a folder renamed into
place for the encoder), so two trainings sharing the folder, or a crash, never leave a torn entry.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd

from models.bundle import sha256_file
from models.files import atomic_write, atomic_write_with

EXPORT_VERSION = "onnx-export-v1"  # bump when export_encoder changes what it writes
METRICS_FILE = "export_metrics.json"
MAX_SHARDS = 8  # more shards than this are merged into one, so a lookup opens few files


def _digest_tree(path: Path) -> str:
    """sha256 over the relative names and digests of every file under ``path`` (a model folder)."""
    files = sorted(p for p in Path(path).rglob("*") if p.is_file())
    listing = "\n".join(f"{f.relative_to(path)}:{sha256_file(f)}" for f in files)
    return hashlib.sha256(listing.encode()).hexdigest()


def encoder_key(source: Path, max_seq_length: int) -> str:
    """What decides the exported encoder's bytes: the source model, the sequence length and the
    libraries that export and run it."""
    parts = [
        _digest_tree(source),
        str(max_seq_length),
        EXPORT_VERSION,
        *(f"{name}={version(name)}" for name in ("torch", "transformers", "onnx", "onnxruntime")),
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def cached_encoder(
    export: Callable[[Path], dict[str, float]], key: str, cache_dir: Path
) -> tuple[Path, dict[str, float], bool]:
    """The folder of the encoder exported under ``key`` (``export(folder)`` runs on a miss), the
    export's metrics, and whether it came from the cache."""
    cached = Path(cache_dir) / "encoders" / key
    marker = cached / METRICS_FILE
    if marker.exists():
        return cached, json.loads(marker.read_text()), True
    staging = cached.with_name(f".{key}.{uuid.uuid4().hex}")
    staging.mkdir(parents=True)
    metrics = export(staging)
    atomic_write(staging / METRICS_FILE, json.dumps(metrics))
    try:
        staging.rename(cached)
    except OSError:  # another training cached the same export first: theirs is as good
        shutil.rmtree(staging, ignore_errors=True)
    return cached, metrics, False


def copy_encoder(cached: Path, encoder_dir: Path) -> None:
    """The cached export's files into a bundle's encoder folder."""
    shutil.copytree(cached, encoder_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns(METRICS_FILE))


class EmbeddingCache:
    """Vectors of texts under one encoder, stored as shards of (text digest, vector) rows.

    ``transform`` returns the vectors of the texts in order, encoding only those not seen before and
    adding them as one new shard.
    """

    def __init__(self, cache_dir: Path, encoder: str) -> None:
        self.folder = Path(cache_dir) / "embeddings" / f"{encoder}-ort{version('onnxruntime')}"

    @staticmethod
    def text_keys(texts: Sequence[str]) -> np.ndarray:
        return np.array([hashlib.sha1(t.encode()).digest() for t in texts], dtype="S20")

    def _shards(self) -> list[Path]:
        return sorted(self.folder.glob("shard-*.npz")) if self.folder.exists() else []

    def _load(self) -> tuple[np.ndarray, np.ndarray]:
        """All cached (keys, vectors), each key once."""
        keys, vectors = [], []
        for shard in self._shards():
            try:
                with np.load(shard, allow_pickle=False) as part:
                    keys.append(part["keys"])
                    vectors.append(part["vectors"])
            except FileNotFoundError:  # merged away by another process meanwhile: only more misses
                continue
        if not keys:
            return np.empty(0, dtype="S20"), np.empty((0, 0), dtype=np.float32)
        all_keys = np.concatenate(keys)
        first = ~pd.Index(all_keys).duplicated()
        return all_keys[first], np.concatenate(vectors)[first]

    def _write(self, keys: np.ndarray, vectors: np.ndarray) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"shard-{uuid.uuid4().hex}.npz"
        return atomic_write_with(path, lambda tmp: np.savez(tmp, keys=keys, vectors=vectors))

    def transform(
        self, texts: Sequence[str], encode: Callable[[list[str]], np.ndarray]
    ) -> tuple[np.ndarray, dict[str, int]]:
        """(vectors of ``texts`` in order, {"cached": hits, "encoded": misses})."""
        keys = self.text_keys(texts)
        known_keys, known_vectors = self._load()
        at = pd.Index(known_keys).get_indexer(keys) if len(known_keys) else np.full(len(keys), -1)
        missing = np.flatnonzero(at < 0)
        fresh = encode([texts[i] for i in missing]) if len(missing) else None
        dim = fresh.shape[1] if fresh is not None else known_vectors.shape[1]
        out = np.empty((len(texts), dim), dtype=np.float32)
        hit = np.flatnonzero(at >= 0)
        if len(hit):
            out[hit] = known_vectors[at[hit]]
        if fresh is not None:
            out[missing] = fresh
            new = ~pd.Index(keys[missing]).duplicated()
            self._write(keys[missing][new], fresh[new].astype(np.float32))
            shards = self._shards()
            if len(shards) > MAX_SHARDS:
                self._compact(shards)
        return out, {"cached": int(len(hit)), "encoded": int(len(missing))}

    def _compact(self, shards: list[Path]) -> None:
        """Merge the shards into one; a shard another process writes meanwhile is kept as it is."""
        keys, vectors = self._load()
        self._write(keys, vectors)
        for shard in shards:
            shard.unlink(missing_ok=True)
