"""Token-level spelling correction against the catalog's own vocabulary.

A shopper's typo ("runing") usually sits one edit away from a word the catalog uses, so the
candidate set is the catalog vocabulary (plus frequent query-log words), ranked by edit distance
then frequency. Known words, numbers and short tokens are never touched: a wrong "correction"
of a valid word costs more than a missed one.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import OSA

from models.text import normalize

# Latin words (after accent stripping) are what the corrector edits; Devanagari passes through.
_WORD_RE = re.compile(r"[a-z][a-z']*[a-z]|[a-z]")
_FILE = "spelling.json"


def _letter_mask(word: str) -> int:
    """Bit i set when letter chr(ord('a') + i) occurs; bit 26 for anything else (apostrophes)."""
    mask = 0
    for ch in word:
        i = ord(ch) - 97
        mask |= 1 << (i if 0 <= i < 26 else 26)
    return mask


def _popcount(x: np.ndarray) -> np.ndarray:
    """Set bits per uint32 (numpy >= 2 has it built in; SWAR arithmetic otherwise)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    x = x - ((x >> 1) & np.uint32(0x55555555))
    x = (x & np.uint32(0x33333333)) + ((x >> 2) & np.uint32(0x33333333))
    x = (x + (x >> 4)) & np.uint32(0x0F0F0F0F)
    return (x * np.uint32(0x01010101)) >> 24


class SpellCorrector:
    """Corrects unknown Latin tokens to the most frequent vocabulary word within a small edit distance.

    Distance is optimal string alignment (a transposition "teh" -> "the" costs one edit). Tokens of
    ``min_length`` characters or fewer are kept (too many neighbours), tokens shorter than
    ``long_word_length`` may move one edit, longer ones up to ``max_distance``.
    """

    def __init__(
        self,
        max_distance: int = 2,
        min_length: int = 4,
        long_word_length: int = 8,
        min_query_count: int = 5,
        protected: Iterable[str] = (),
    ) -> None:
        self.max_distance = max_distance
        self.min_length = min_length
        self.long_word_length = long_word_length
        self.min_query_count = min_query_count
        self.protected = tuple(protected)

    def fit(self, texts: Iterable[str], query_log: Iterable[str] | None = None) -> SpellCorrector:
        """Learn word frequencies from catalog texts; query-log words join once typed ``min_query_count`` times.

        The threshold keeps a rare query typo from becoming a "known word" that is then never corrected.
        """
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_WORD_RE.findall(normalize(text)))
        if query_log is not None:
            query_counts: Counter[str] = Counter()
            for query in query_log:
                query_counts.update(_WORD_RE.findall(normalize(query)))
            for word, n in query_counts.items():
                if word in counts or n >= self.min_query_count:
                    counts[word] += n
        if not counts:
            raise ValueError("SpellCorrector.fit: no words in the given texts")
        self.frequencies_: dict[str, int] = dict(counts.most_common())
        self._index()
        return self

    def _index(self) -> None:
        # Cheap vectorised pre-filter before the exact edit distance: a word within d edits differs
        # in length by at most d, and in its set of letters by at most 2d (one edit adds or drops at
        # most one letter each way). On a 50k-word vocabulary that leaves a few hundred candidates.
        self._words = list(self.frequencies_)
        self._freq = np.array([self.frequencies_[w] for w in self._words], dtype=np.int64)
        self._lengths = np.array([len(w) for w in self._words], dtype=np.int32)
        self._masks = np.array([_letter_mask(w) for w in self._words], dtype=np.uint32)
        self._known = set(self.frequencies_) | {normalize(w) for w in self.protected}
        self._cache: dict[str, str] = {}

    def _limit(self, word: str) -> int:
        return 1 if len(word) < self.long_word_length else self.max_distance

    def correct_word(self, word: str) -> str:
        """The best known word for ``word`` (itself if known, too short, or nothing is close)."""
        if len(word) <= self.min_length or word in self._known:
            return word
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        limit = self._limit(word)
        near = (np.abs(self._lengths - len(word)) <= limit) & (
            _popcount(self._masks ^ np.uint32(_letter_mask(word))) <= 2 * limit
        )
        candidates = np.flatnonzero(near)
        best = word
        if len(candidates):
            dist = process.cdist(
                [word],
                [self._words[i] for i in candidates],
                scorer=OSA.distance,
                score_cutoff=limit,
                dtype=np.int32,
                workers=1,
            )[0]
            ok = dist <= limit
            if ok.any():
                # Closest first, then the most frequent word; ties broken by vocabulary order.
                order = np.lexsort((-self._freq[candidates][ok], dist[ok]))
                best = self._words[candidates[ok][order[0]]]
        if len(self._cache) < 100_000:
            self._cache[word] = best
        return best

    def correct(self, query: str) -> str:
        """The normalised query with each unknown Latin word replaced by its correction."""
        self._check_fitted()
        return _WORD_RE.sub(lambda m: self.correct_word(m.group(0)), normalize(query))

    def is_known(self, word: str) -> bool:
        self._check_fitted()
        return normalize(word) in self._known

    def _check_fitted(self) -> None:
        if not hasattr(self, "frequencies_"):
            raise RuntimeError("SpellCorrector is not fitted: call fit() or load() first")

    # --- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        self._check_fitted()
        path = Path(directory) / _FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "params": {
                "max_distance": self.max_distance,
                "min_length": self.min_length,
                "long_word_length": self.long_word_length,
                "min_query_count": self.min_query_count,
                "protected": list(self.protected),
            },
            "frequencies": self.frequencies_,
        }
        path.write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> SpellCorrector:
        path = Path(directory) / _FILE
        if not path.is_file():
            raise FileNotFoundError(f"no spelling model at {path}")
        state = json.loads(path.read_text(encoding="utf-8"))
        obj = cls(**state["params"])
        obj.frequencies_ = {str(k): int(v) for k, v in state["frequencies"].items()}
        obj._index()
        return obj
