"""Query -> category intent: TF-IDF (word + char n-grams) and multinomial logistic regression.

Trained with scikit-learn, served with numpy: the fitted vocabularies, idf weights and
coefficients are exported as JSON + .npz and the decision function is rebuilt from them, so
the bundle holds no pickle and the service does not depend on scikit-learn internals.
Character n-grams carry the model across inflections and languages ("tenis", "shoe"/"shoes").
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import sparse
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from models.text import STOPWORDS, normalize, tokenize

_META = "category_classifier.json"
_ARRAYS = "category_classifier.npz"


def word_ngrams(text: str) -> list[str]:
    """Word unigrams and bigrams of the normalised text (stopwords dropped)."""
    return _word_grams(tokenize(text))


def char_ngrams(text: str, low: int = 2, high: int = 4) -> list[str]:
    """Character n-grams inside word boundaries (space-padded words), like sklearn's ``char_wb``."""
    return _char_grams(tokenize(text, stopwords=frozenset()), low, high)


def _word_grams(tokens: list[str]) -> list[str]:
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False)]


def _char_grams(tokens: list[str], low: int, high: int) -> list[str]:
    grams: list[str] = []
    for word in tokens:
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) < n:
                break
            grams.extend(padded[i : i + n] for i in range(len(padded) - n + 1))
    return grams


class CategoryClassifier:
    """Predicts a category path for a short text with a calibrated-ish probability (softmax of a linear model)."""

    def __init__(
        self,
        C: float = 10.0,
        max_word_features: int = 30_000,
        max_char_features: int = 30_000,
        char_range: tuple[int, int] = (2, 4),
        max_iter: int = 300,
        random_state: int = 42,
    ) -> None:
        self.C = C
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.char_range = char_range
        self.max_iter = max_iter
        self.random_state = random_state

    # --- features --------------------------------------------------------------------------
    def _row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Column indices and TF-IDF weights of one text: sublinear tf x idf, each block L2-normalised.

        Same numbers as sklearn's TfidfVectorizer(sublinear_tf=True) per block, side by side; the
        text is tokenised once for both blocks because this runs on every query.
        """
        tokens = tokenize(text, stopwords=frozenset())
        words = [t for t in tokens if t not in STOPWORDS]
        offset = len(self.word_vocabulary_)
        idx: list[int] = []
        counts: list[int] = []
        for grams, vocab, shift in (
            (_word_grams(words), self.word_vocabulary_, 0),
            (_char_grams(tokens, *self.char_range), self.char_vocabulary_, offset),
        ):
            for gram, n in Counter(grams).items():
                i = vocab.get(gram)
                if i is not None:
                    idx.append(i + shift)
                    counts.append(n)
        if not idx:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        index = np.array(idx, dtype=np.int64)
        w = (1.0 + np.log(np.array(counts, dtype=np.float64))) * self.idf_[index]
        n_word = int(np.count_nonzero(index < offset))  # word columns come first
        for block in (w[:n_word], w[n_word:]):
            norm = np.sqrt(block @ block)
            if norm > 0:
                block /= norm
        return index, w

    def _features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        rows = [self._row(t) for t in tqdm(texts, desc="category features", disable=len(texts) < 50_000)]
        indptr = np.cumsum([0] + [len(i) for i, _ in rows])
        n = len(self.word_vocabulary_) + len(self.char_vocabulary_)
        indices = np.concatenate([i for i, _ in rows]) if rows else np.zeros(0, dtype=np.int64)
        data = np.concatenate([w for _, w in rows]) if rows else np.zeros(0)
        return sparse.csr_matrix((data, indices, indptr), shape=(len(texts), n))

    # --- training --------------------------------------------------------------------------
    def fit(
        self, texts: Sequence[str], labels: Sequence[str], sample_weight: Sequence[float] | None = None
    ) -> CategoryClassifier:
        """Fit on (text, category) pairs: product texts and, when logged, (query, clicked category) pairs."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels):
            raise ValueError(f"fit: {len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise ValueError("fit: no training texts")
        norm = [normalize(t) for t in texts]
        self.classes_ = np.array(sorted({str(lbl) for lbl in labels}), dtype=object)
        word_vec = TfidfVectorizer(
            analyzer=word_ngrams, sublinear_tf=True, max_features=self.max_word_features, lowercase=False
        )
        char_vec = TfidfVectorizer(
            analyzer=lambda t: char_ngrams(t, *self.char_range),
            sublinear_tf=True,
            max_features=self.max_char_features,
            lowercase=False,
        )
        word_vec.fit(norm)
        char_vec.fit(norm)
        self.word_vocabulary_ = {str(k): int(v) for k, v in word_vec.vocabulary_.items()}
        self.char_vocabulary_ = {str(k): int(v) for k, v in char_vec.vocabulary_.items()}
        self.word_idf_ = word_vec.idf_.astype(np.float64)
        self.char_idf_ = char_vec.idf_.astype(np.float64)
        self.idf_ = np.concatenate([self.word_idf_, self.char_idf_])
        if len(self.classes_) == 1:
            # One category: nothing to learn, every query belongs to it.
            n = len(self.word_vocabulary_) + len(self.char_vocabulary_)
            self.coef_ = np.zeros((1, n), dtype=np.float32)
            self.intercept_ = np.zeros(1, dtype=np.float32)
            return self
        X = self._features(norm)
        y = np.array([str(lbl) for lbl in labels], dtype=object)
        model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.random_state)
        # One BLAS thread: L-BFGS on a sparse problem gains nothing from threads and oversubscribes
        # a shared machine badly (seconds instead of ~0.1 s on the test catalog).
        with threadpool_limits(limits=1):
            model.fit(X, y, sample_weight=None if sample_weight is None else np.asarray(sample_weight, float))
        assert list(model.classes_) == list(self.classes_)
        self.coef_ = model.coef_.astype(np.float32)
        self.intercept_ = model.intercept_.astype(np.float32)
        return self

    # --- inference -------------------------------------------------------------------------
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_classes) probabilities, columns in ``classes_`` order."""
        self._check_fitted()
        if len(self.classes_) == 1:
            return np.ones((len(texts), 1))
        scores = np.empty((len(texts), self.coef_.shape[0]))
        for r, text in enumerate(texts):
            # Gathering the few non-zero columns beats a sparse matmul for short queries.
            idx, w = self._row(text)
            scores[r] = self.coef_[:, idx] @ w + self.intercept_
        if len(self.classes_) == 2:  # sklearn's binary LR: one column scoring the second class
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [str(self.classes_[i]) for i in self.predict_proba(texts).argmax(axis=1)]

    def top(self, text: str) -> tuple[str, float]:
        """The most likely category of one text and its probability."""
        proba = self.predict_proba([text])[0]
        i = int(proba.argmax())
        return str(self.classes_[i]), float(proba[i])

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("CategoryClassifier is not fitted: call fit() or load() first")

    # --- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> list[Path]:
        self._check_fitted()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = {
            "params": {
                "C": self.C,
                "max_word_features": self.max_word_features,
                "max_char_features": self.max_char_features,
                "char_range": list(self.char_range),
                "max_iter": self.max_iter,
                "random_state": self.random_state,
            },
            "classes": [str(c) for c in self.classes_],
            "word_vocabulary": self.word_vocabulary_,
            "char_vocabulary": self.char_vocabulary_,
        }
        (d / _META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        np.savez_compressed(
            d / _ARRAYS,
            coef=self.coef_,
            intercept=self.intercept_,
            word_idf=self.word_idf_,
            char_idf=self.char_idf_,
        )
        return [d / _META, d / _ARRAYS]

    @classmethod
    def load(cls, directory: str | Path) -> CategoryClassifier:
        d = Path(directory)
        if not (d / _META).is_file() or not (d / _ARRAYS).is_file():
            raise FileNotFoundError(f"no category classifier in {d} (need {_META} and {_ARRAYS})")
        meta = json.loads((d / _META).read_text(encoding="utf-8"))
        params = dict(meta["params"])
        params["char_range"] = tuple(params["char_range"])
        obj = cls(**params)
        obj.classes_ = np.array(meta["classes"], dtype=object)
        obj.word_vocabulary_ = meta["word_vocabulary"]
        obj.char_vocabulary_ = meta["char_vocabulary"]
        with np.load(d / _ARRAYS, allow_pickle=False) as z:
            obj.coef_ = z["coef"]
            obj.intercept_ = z["intercept"]
            obj.word_idf_ = z["word_idf"]
            obj.char_idf_ = z["char_idf"]
        obj.idf_ = np.concatenate([obj.word_idf_, obj.char_idf_])
        n = len(obj.word_vocabulary_) + len(obj.char_vocabulary_)
        if obj.coef_.shape[1] != n:
            raise ValueError(f"corrupt classifier: {obj.coef_.shape[1]} coefficients for {n} features")
        return obj
