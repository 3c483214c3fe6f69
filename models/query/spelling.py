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

from rapidfuzz import process
from rapidfuzz.distance import OSA

from models.text import normalize

# Latin words (after accent stripping) are what the corrector edits; Devanagari passes through.
_WORD_RE = re.compile(r"[a-z][a-z']*[a-z]|[a-z]")
_FILE = "spelling.json"


class SpellCorrector:
    """Corrects unknown Latin tokens to the most frequent vocabulary word within a small edit distance.

    Distance is optimal string alignment (a transposition "teh" -> "the" costs one edit). Tokens of
    ``min_length`` characters or fewer are kept (too many neighbours), tokens shorter than
    ``long_word_length`` may move one edit, longer ones up to ``max_distance``.
    """

    def __init__(
        self,
        max_distance: int = 2,
        min_length: int = 3,
        long_word_length: int = 6,
        min_query_count: int = 5,
        protected: Iterable[str] = (),
    ) -> None:
        self.max_distance = max_distance
        self.min_length = min_length
        self.long_word_length = long_word_length
        self.min_query_count = min_query_count
        self.protected = tuple(protected)

    def fit(
        self, texts: Iterable[str], query_log: Iterable[str] | None = None
    ) -> SpellCorrector:
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
        # Words grouped by length: a candidate within distance d differs in length by at most d,
        # so each lookup scans only a few buckets.
        self._by_length: dict[int, list[str]] = {}
        for word in self.frequencies_:
            self._by_length.setdefault(len(word), []).append(word)
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
        best, best_key = word, None
        for length in range(len(word) - limit, len(word) + limit + 1):
            bucket = self._by_length.get(length)
            if not bucket:
                continue
            for cand, dist, _ in process.extract(
                word, bucket, scorer=OSA.distance, score_cutoff=limit, limit=None
            ):
                key = (dist, -self.frequencies_[cand])
                if best_key is None or key < best_key:
                    best, best_key = cand, key
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
