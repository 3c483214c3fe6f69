"""Search-as-you-type suggestions: prefix completions from popular queries, categories, brands and titles.

Called on every keystroke, so the per-call work is bounded: keys are kept in one sorted list
(a prefix is a contiguous range found with two bisections), the answer for every 1-3 character
prefix (the ranges that span most of the index) is precomputed at fit time, and longer prefixes
only rank their own, small range. The typo path (last token edited by rapidfuzz) only runs when the
exact prefix has no completion at all.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from models.columns import as_str
from models.text import clean, tokenize

Kind = Literal["query", "product", "category", "brand"]
KINDS: tuple[Kind, ...] = ("query", "product", "category", "brand")
_META = "suggest.json"
_ARRAYS = "suggest.npz"
_NO_STOPWORDS: frozenset[str] = frozenset()
_TOP = "\U0010ffff"  # sorts after every character: the end of a prefix range


def suggest_key(text: object) -> str:
    """The matching form of a text: tokens (case, accents and punctuation removed) joined by one space."""
    return " ".join(tokenize(text, stopwords=_NO_STOPWORDS))


def prefix_key(prefix: str) -> str:
    """Like ``suggest_key``, but a trailing space is kept: "red " means the word "red" is complete."""
    key = suggest_key(prefix)
    return f"{key} " if key and prefix[-1:].isspace() else key


@dataclass(frozen=True)
class Suggestion:
    text: str
    kind: Kind
    score: float
    sku: str | None = None


class Suggester:
    """Prefix completer over four sources, ranked by kind weight x log popularity.

    Hyper-parameters:
      min_query_count: a logged query becomes a suggestion only after this many occurrences (once is noise).
      max_k: the most suggestions one call may ask for (the precomputed lists hold this many).
      precompute_chars: prefixes up to this many characters are answered from precomputed lists.
      infix_weight: a match at a later word ("drill" in "cordless drill") counts this much of a match at the start.
      typo_weight: score multiplier per edit of a typo-corrected last token.
      kind_weights: prior per kind; logged queries first because they are what shoppers actually typed.
    """

    def __init__(
        self,
        min_query_count: int = 2,
        max_k: int = 20,
        precompute_chars: int = 3,
        infix_weight: float = 0.6,
        typo_weight: float = 0.7,
        max_query_chars: int = 80,
        kind_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.min_query_count = min_query_count
        self.max_k = max_k
        self.precompute_chars = precompute_chars
        self.infix_weight = infix_weight
        self.typo_weight = typo_weight
        self.max_query_chars = max_query_chars
        self.kind_weights = dict(
            kind_weights or {"query": 1.0, "category": 0.8, "brand": 0.7, "product": 0.5}
        )

    # --- fit -----------------------------------------------------------------------------------
    def fit(
        self,
        products: pd.DataFrame,
        query_log: Iterable[str] = (),
        popularity: Mapping[str, float] | None = None,
    ) -> Suggester:
        """Learn entries from the catalog and the query log; ``popularity`` (sku -> events) ranks titles."""
        if self.min_query_count < 1 or self.max_k < 1:
            raise ValueError("min_query_count and max_k must be at least 1")
        missing = {"sku", "title"} - set(products.columns)
        if missing:
            raise ValueError(f"products need columns {sorted(missing)} for suggestions")
        popularity = popularity or {}
        entries: list[tuple[str, Kind, float, str, list[str]]] = []  # text, kind, count, sku, phrases

        # Logged queries: the most common spelling of each normalised query is what we display.
        variants: dict[str, Counter[str]] = defaultdict(Counter)
        for raw in query_log:
            text = clean(raw)
            key = suggest_key(text)
            if key and len(text) <= self.max_query_chars:
                variants[key][text] += 1
        for key, forms in variants.items():
            count = sum(forms.values())
            if count >= self.min_query_count:
                entries.append((forms.most_common(1)[0][0], "query", float(count), "", [key]))

        # Product titles: sizes/colours of one title collapse into one entry (its most popular sku).
        by_title: dict[str, list[tuple[float, str, str]]] = defaultdict(list)
        for sku, title in zip(products["sku"].astype(str), products["title"], strict=True):
            text = clean(title)
            if text:
                by_title[suggest_key(text)].append((float(popularity.get(sku, 0.0)), sku, text))
        for key, rows in by_title.items():
            pop, sku, text = max(rows, key=lambda r: (r[0], -len(r[1]), r[1]))
            entries.append((text, "product", 1.0 + sum(r[0] for r in rows), sku, [key]))

        # Categories: every level of every path, weighted by the products under it.
        if "category" in products.columns:
            nodes: Counter[str] = Counter()
            for path in products["category"].dropna().astype(str):
                parts = [clean(p) for p in path.split(">") if clean(p)]
                for depth in range(1, len(parts) + 1):
                    nodes[" > ".join(parts[:depth])] += 1
            for node, count in nodes.items():
                leaf = node.rsplit(" > ", 1)[-1]
                entries.append((node, "category", float(count), "", [suggest_key(leaf), suggest_key(node)]))

        if "brand" in products.columns:
            brands: Counter[str] = Counter(
                clean(b) for b in products["brand"].dropna().astype(str) if clean(b)
            )
            for brand, count in brands.items():
                entries.append((brand, "brand", float(count), "", [suggest_key(brand)]))

        self._build(entries)
        return self

    def _build(self, entries: list[tuple[str, Kind, float, str, list[str]]]) -> None:
        max_count = {kind: 1.0 for kind in KINDS}
        for _, kind, count, _, _ in entries:
            max_count[kind] = max(max_count[kind], count)
        self.texts_ = [e[0] for e in entries]
        self.kinds_ = np.array([KINDS.index(e[1]) for e in entries], dtype=np.int8)
        self.skus_ = [e[3] for e in entries]
        self.scores_ = np.array(
            [
                self.kind_weights.get(kind, 0.0)
                * (0.5 + 0.5 * math.log1p(count) / math.log1p(max_count[kind]))
                for _, kind, count, _, _ in entries
            ],
            dtype=np.float32,
        )
        # Entries that read the same (a query "olive oil" and a brand "Olive Oil") are shown once.
        groups: dict[str, int] = {}
        self.groups_ = np.array(
            [groups.setdefault(suggest_key(t), len(groups)) for t in self.texts_], dtype=np.int32
        )

        best: dict[tuple[str, int], float] = {}
        for e, (_, _, _, _, phrases) in enumerate(entries):
            for phrase in phrases:
                words = phrase.split(" ")
                for start in range(len(words)):
                    key = " ".join(words[start:])
                    weight = 1.0 if start == 0 else self.infix_weight
                    if key and weight > best.get((key, e), 0.0):
                        best[(key, e)] = weight
        rows = sorted(((key, -float(self.scores_[e]) * w, e) for (key, e), w in best.items()))
        self.keys_ = [r[0] for r in rows]
        self.key_scores_ = np.array([-r[1] for r in rows], dtype=np.float32)
        self.key_entries_ = np.array([r[2] for r in rows], dtype=np.int32)
        self.words_ = sorted({w for r in rows for w in r[0].split(" ")})

        prefixes = sorted(
            {k[:n] for k in self.keys_ for n in range(1, self.precompute_chars + 1) if len(k) >= n}
        )
        top_entries = np.full((len(prefixes), self.max_k), -1, dtype=np.int32)
        top_scores = np.zeros((len(prefixes), self.max_k), dtype=np.float32)
        for row, prefix in enumerate(prefixes):
            found = self._rank_range(prefix, self.max_k)
            top_entries[row, : len(found)] = [e for e, _ in found]
            top_scores[row, : len(found)] = [s for _, s in found]
        self.prefixes_ = prefixes
        self.top_entries_, self.top_scores_ = top_entries, top_scores
        self._index()

    def _index(self) -> None:
        """Derived lookup structures (not saved: rebuilt in milliseconds from the saved state)."""
        self._prefix_row = {p: i for i, p in enumerate(self.prefixes_)}
        by_length: dict[int, set[str]] = defaultdict(set)
        for word in self.words_:
            for n in range(2, len(word) + 1):
                by_length[n].add(word[:n])
        self._word_prefixes = {n: sorted(v) for n, v in by_length.items()}

    # --- lookup --------------------------------------------------------------------------------
    def _rank_range(self, key: str, k: int) -> list[tuple[int, float]]:
        """Best ``k`` distinct entries whose keys start with ``key``: (entry, score), best first."""
        lo = bisect_left(self.keys_, key)
        hi = bisect_left(self.keys_, key + _TOP, lo)
        if lo == hi:
            return []
        scores = self.key_scores_[lo:hi]
        take = min(hi - lo, 4 * k)
        while True:
            if take < hi - lo:
                part = np.argpartition(-scores, take - 1)[:take]
                order = part[np.argsort(-scores[part], kind="stable")]
            else:
                order = np.argsort(-scores, kind="stable")
            out: list[tuple[int, float]] = []
            seen: set[int] = set()
            for j in order:
                entry = int(self.key_entries_[lo + j])
                group = int(self.groups_[entry])
                if group not in seen:
                    seen.add(group)
                    out.append((entry, float(scores[j])))
                    if len(out) == k:
                        return out
            if take >= hi - lo:
                return out
            take = hi - lo  # rare: many keys of the same entries; rank the whole range

    def _lookup(self, key: str, k: int) -> list[tuple[int, float]]:
        row = self._prefix_row.get(key) if len(key) <= self.precompute_chars else None
        if row is not None:
            n = int((self.top_entries_[row] >= 0).sum())
            m = min(k, n)
            return list(
                zip(self.top_entries_[row, :m].tolist(), self.top_scores_[row, :m].tolist(), strict=True)
            )
        if len(key) <= self.precompute_chars:
            return []  # every short prefix that has a completion was precomputed
        return self._rank_range(key, k)

    def _corrections(self, token: str) -> list[tuple[str, int]]:
        """Word prefixes within 1 edit (2 from 7 letters) of a partially typed ``token``, closest first."""
        n = len(token)
        if n < 3:
            return []
        max_edits = 1 if n < 7 else 2
        found: dict[str, int] = {}
        for length in (n - 1, n, n + 1):
            choices = self._word_prefixes.get(length, ())
            for choice, dist, _ in process.extract(
                token, choices, scorer=Levenshtein.distance, score_cutoff=max_edits, limit=None
            ):
                if 0 < dist and dist < found.get(choice, max_edits + 1):
                    found[choice] = int(dist)
        return sorted(found.items(), key=lambda kv: (kv[1], kv[0]))

    def suggest(self, prefix: str, k: int = 10) -> list[Suggestion]:
        """Up to ``k`` completions of ``prefix``; if none, completions of a typo-corrected last token."""
        if not hasattr(self, "keys_"):
            raise RuntimeError("Suggester is not fitted: call fit() or load() first")
        if not 1 <= k <= self.max_k:
            raise ValueError(f"k must be between 1 and {self.max_k}, got {k}")
        key = prefix_key(prefix)
        if not key:
            return []
        found = self._lookup(key, k)
        if not found and not key.endswith(" "):
            head, _, last = key.rpartition(" ")
            head = f"{head} " if head else ""
            merged: dict[int, float] = {}
            corrections = self._corrections(last)
            best = min((d for _, d in corrections), default=0)
            for word, dist in corrections[:8]:
                if dist > best:
                    break
                for entry, score in self._lookup(head + word, k):
                    score *= self.typo_weight**dist
                    if score > merged.get(entry, 0.0):
                        merged[entry] = score
            ranked = sorted(merged.items(), key=lambda kv: -kv[1])
            seen: set[int] = set()
            for entry, score in ranked:
                if int(self.groups_[entry]) not in seen:
                    seen.add(int(self.groups_[entry]))
                    found.append((entry, score))
            found = found[:k]
        return [
            Suggestion(self.texts_[e], KINDS[self.kinds_[e]], round(s, 6), self.skus_[e] or None)
            for e, s in found
        ]

    # --- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> list[Path]:
        """JSON for the strings, .npz for the arrays (no pickle)."""
        if not hasattr(self, "keys_"):
            raise RuntimeError("Suggester is not fitted: nothing to save")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        meta = {
            "params": {
                "min_query_count": self.min_query_count,
                "max_k": self.max_k,
                "precompute_chars": self.precompute_chars,
                "infix_weight": self.infix_weight,
                "typo_weight": self.typo_weight,
                "max_query_chars": self.max_query_chars,
                "kind_weights": self.kind_weights,
            },
            "texts": self.texts_,
            "skus": self.skus_,
            "keys": self.keys_,
            "words": self.words_,
            "prefixes": self.prefixes_,
        }
        (d / _META).write_text(json.dumps(meta, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        np.savez_compressed(
            d / _ARRAYS,
            kinds=self.kinds_,
            scores=self.scores_,
            groups=self.groups_,
            key_scores=self.key_scores_,
            key_entries=self.key_entries_,
            top_entries=self.top_entries_,
            top_scores=self.top_scores_,
        )
        return [d / _META, d / _ARRAYS]

    @classmethod
    def load(cls, directory: str | Path) -> Suggester:
        d = Path(directory)
        if not (d / _META).is_file() or not (d / _ARRAYS).is_file():
            raise FileNotFoundError(f"no suggester at {d} (expected {_META} and {_ARRAYS})")
        meta = json.loads((d / _META).read_text(encoding="utf-8"))
        obj = cls(**meta["params"])
        obj.texts_, obj.skus_, obj.keys_ = meta["texts"], meta["skus"], meta["keys"]
        obj.words_, obj.prefixes_ = meta["words"], meta["prefixes"]
        with np.load(d / _ARRAYS, allow_pickle=False) as z:
            obj.kinds_, obj.scores_, obj.groups_ = z["kinds"], z["scores"], z["groups"]
            obj.key_scores_, obj.key_entries_ = z["key_scores"], z["key_entries"]
            obj.top_entries_, obj.top_scores_ = z["top_entries"], z["top_scores"]
        if len(obj.keys_) != len(obj.key_entries_) or len(obj.prefixes_) != len(obj.top_entries_):
            raise ValueError(f"suggester at {d} is inconsistent: keys and arrays differ in length")
        obj._index()
        return obj


def query_log_from_events(events: pd.DataFrame) -> list[str]:
    """What shoppers typed: ``search`` events, or the queries on ``search_click`` events when a source
    logs only clicks (each click repeats its query, so clicks are not added on top of searches)."""
    if "query" not in events.columns:
        return []
    etype = events["type"]  # compared as is: astype(str) of a 20M-row categorical costs GBs
    for kind in ("search", "search_click"):
        queries = events.loc[(etype == kind) & events["query"].notna(), "query"].astype(str)
        if len(queries):
            return queries.tolist()
    return []


def sku_popularity(events: pd.DataFrame) -> dict[str, float]:
    """Events per sku: how often shoppers touched a product, to rank its title among completions."""
    if "sku" not in events.columns:
        return {}
    return {
        str(s): float(c) for s, c in as_str(events["sku"]).value_counts().items()
    }  # value_counts skips missing
