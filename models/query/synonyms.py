"""Merchandiser synonyms: two-way groups ("tv" <-> "television") and one-way rules ("sneakers" -> "running shoes").

One-way rules exist because some rewrites only hold in one direction: a shopper asking for
"sneakers" wants running shoes, but one asking for "running shoes" does not want every sneaker.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from models.text import tokenize

_FILE = "synonyms.json"


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(tokenize(text, stopwords=frozenset()))


class SynonymSet:
    """Phrase-level synonym rules matched on normalised tokens (multi-word phrases, longest match first)."""

    def __init__(
        self,
        two_way: Iterable[Sequence[str]] = (),
        one_way: Mapping[str, Sequence[str]] | None = None,
        max_expansions: int = 5,
    ) -> None:
        self.two_way = [list(g) for g in two_way]
        self.one_way = {k: list(v) for k, v in (one_way or {}).items()}
        self.max_expansions = max_expansions
        self._rules: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for group in self.two_way:
            phrases = [p for p in (_phrase(g) for g in group) if p]
            for p in phrases:
                self._add(p, [q for q in phrases if q != p])
        for source, targets in self.one_way.items():
            p = _phrase(source)
            if not p:
                raise ValueError(f"synonym rule with an empty source phrase: {source!r}")
            self._add(p, [q for q in (_phrase(t) for t in targets) if q and q != p])
        self._max_len = max((len(p) for p in self._rules), default=0)

    def _add(self, phrase: tuple[str, ...], alternatives: list[tuple[str, ...]]) -> None:
        known = self._rules.setdefault(phrase, [])
        for alt in alternatives:
            if alt not in known:
                known.append(alt)

    def __len__(self) -> int:
        return len(self._rules)

    def expand(self, query_tokens: Sequence[str] | str) -> list[str]:
        """Alternative phrasings of the query: each matched phrase replaced by each of its synonyms.

        Accepts tokens or a raw string; returns at most ``max_expansions`` distinct strings, never
        the query itself.
        """
        tokens = list(
            _phrase(query_tokens) if isinstance(query_tokens, str) else _phrase(" ".join(query_tokens))
        )
        if not tokens or not self._rules:
            return []
        original = " ".join(tokens)
        out: list[str] = []
        i = 0
        while i < len(tokens) and len(out) < self.max_expansions:
            matched = 0
            for n in range(min(self._max_len, len(tokens) - i), 0, -1):
                alts = self._rules.get(tuple(tokens[i : i + n]))
                if alts:
                    matched = n
                    for alt in alts:
                        text = " ".join([*tokens[:i], *alt, *tokens[i + n :]])
                        if text != original and text not in out:
                            out.append(text)
                    break
            i += matched or 1
        return out[: self.max_expansions]

    # --- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"two_way": self.two_way, "one_way": self.one_way, "max_expansions": self.max_expansions}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SynonymSet:
        """Build from ``{"two_way": [[...], ...], "one_way": {"src": [...]}}``; unknown keys are an error."""
        unknown = set(data) - {"two_way", "one_way", "max_expansions"}
        if unknown:
            raise ValueError(f"unknown synonym keys {sorted(unknown)}; expected two_way, one_way")
        one_way = data.get("one_way") or {}
        if not isinstance(one_way, Mapping):
            raise ValueError("synonyms 'one_way' must map a phrase to a list of phrases")
        one_way = {k: [v] if isinstance(v, str) else list(v) for k, v in one_way.items()}
        return cls(data.get("two_way") or [], one_way, int(data.get("max_expansions", 5)))

    @classmethod
    def from_json(cls, path: str | Path) -> SynonymSet:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / _FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> SynonymSet:
        path = Path(directory) / _FILE
        return cls.from_json(path) if path.is_file() else cls()
