"""Rule + vocabulary query parsing: a shopper's free text -> structured intent (filters and boosts).

The open-class vocabularies (brands, colours, sizes, materials, targets) are learned from the
catalog in ``fit``; only closed-class words (price phrases, recipients, colour words in en/pt/hi)
come from ``models.query.lexicon``. Every pattern is compiled once at fit/load time so ``parse``
costs tens of microseconds.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, Field

from models.query import lexicon as lx
from models.query.spelling import SpellCorrector
from models.text import clean, normalize

_FILE = "query_parser.json"
# Word boundaries that also hold for Devanagari (its vowel signs are marks, not \w).
_L = r"(?<![\w\u0900-\u097f])"
_R = r"(?![\w\u0900-\u097f])"
_NOT_A_UNIT = (
    r"(?!\s*(?:in\b|in\.|inch|inches|ft\b|feet|foot|mm\b|cm\b|m\b|\"|'|gal\b|oz\b|lb\b|lbs\b|v\b|w\b|x\b))"
)
"""What may not follow a bare number range for it to read as prices."""
_NUM = r"\d{1,3}(?:[.,]\d{3})+(?![\d])|\d+(?:[.,]\d{1,2})?"
_SPACE_RE = re.compile(r"\s+")
_PUNCT_ONLY_RE = re.compile(r"(?<!\S)[^\w\u0900-\u097f\s]+(?!\S)")
_PLACEHOLDER_RE = re.compile("\x00([\ue000-\uf8ff])\x00")


class CategoryIntent(BaseModel):
    """Predicted category; ``applied`` says whether it cleared the confidence threshold."""

    path: str
    confidence: float
    applied: bool


class ParsedQuery(BaseModel):
    """Structured intent of one query (JSON-serialisable; the service maps it to filters and boosts)."""

    query: str = Field(description="the raw query as received")
    text: str = Field(description="normalised query with constraint phrases removed, for retrieval")
    corrected: str | None = Field(None, description="spell-corrected query, when different")
    price_min: float | None = None
    price_max: float | None = None
    price_hint: str | None = Field(None, description="'low' (cheap) or 'high' (premium): a soft boost only")
    colors: list[str] = Field(default_factory=list)
    sizes: list[str] = Field(default_factory=list)
    brands: list[str] = Field(default_factory=list)
    materials: list[str] = Field(default_factory=list)
    target: str | None = Field(None, description="catalog target value (men/women/kids/unisex)")
    is_gift: bool = False
    category: CategoryIntent | None = None
    expansions: list[str] = Field(default_factory=list, description="synonym rewrites of ``text``")
    explain: str = ""
    language: str = Field(
        "en",
        description="bn, hi (in their scripts), bn-Latn, hi-Latn (typed in Latin letters), or en "
        "(Latin script read as typed: English, Portuguese)",
    )
    translated: str | None = Field(None, description="the query in the catalog's English, when translated")
    kept: str = Field("", description="script words no translation step knew, matched as typed")

    def build_explain(self) -> str:
        """Short human label ("Running Shoes · Nike · under 50 · red") for the UI and logs."""
        parts: list[str] = []
        if self.category is not None and self.category.applied:
            parts.append(self.category.path.split(">")[-1].strip())
        parts.extend(self.brands)
        if self.price_min is not None and self.price_max is not None:
            parts.append(f"{_fmt(self.price_min)}–{_fmt(self.price_max)}")
        elif self.price_max is not None:
            parts.append(f"under {_fmt(self.price_max)}")
        elif self.price_min is not None:
            parts.append(f"over {_fmt(self.price_min)}")
        if self.price_hint:
            parts.append("cheap" if self.price_hint == "low" else "premium")
        parts.extend(self.colors)
        parts.extend(f"size {s}" for s in self.sizes)
        parts.extend(self.materials)
        if self.target:
            parts.append(f"for {self.target}")
        if self.is_gift:
            parts.append("gift")
        return " · ".join(parts)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def _to_number(raw: str) -> float:
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", raw):
        return float(re.sub(r"[.,]", "", raw))  # 1.000 / 1,000: thousands separators
    return float(raw.replace(",", "."))


def _alternation(phrases: Iterable[str]) -> str:
    """Regex alternation of normalised phrases, longest first so "azul marinho" beats "azul"."""
    keys = sorted({normalize(p) for p in phrases if normalize(p)}, key=lambda p: (-len(p), p))
    return "|".join(r"\s+".join(re.escape(w) for w in k.split()) for k in keys) or r"(?!x)x"


def _amount(name: str) -> str:
    return rf"(?:{lx.CURRENCY}\s*)?(?P<{name}>{_NUM})(?:\s*{lx.CURRENCY_AFTER}{_R})?"


def _vocab(values: pd.Series) -> dict[str, str]:
    """normalised value -> its most frequent spelling in the catalog."""
    counts: Counter[str] = Counter(clean(v) for v in values.dropna().astype(str))
    out: dict[str, str] = {}
    for value, _ in counts.most_common():
        key = normalize(value)
        if key and key not in out:
            out[key] = value
    return out


class QueryParser:
    """Extracts price bounds, colours, sizes, brands, materials, target and gift intent from a query."""

    def __init__(
        self,
        spelling: bool = True,
        keep_attributes_in_text: bool = True,
        max_query_chars: int = 256,
        spell_max_distance: int = 2,
        spell_min_query_count: int = 5,
    ) -> None:
        self.spelling = spelling
        self.keep_attributes_in_text = keep_attributes_in_text
        self.max_query_chars = max_query_chars
        self.spell_max_distance = spell_max_distance
        self.spell_min_query_count = spell_min_query_count

    # --- training --------------------------------------------------------------------------
    def fit(self, products: pd.DataFrame, query_log: list[str] | None = None) -> QueryParser:
        """Learn brand/colour/size/material/target vocabularies from the catalog and the spelling
        vocabulary from catalog text plus the query log."""
        if not isinstance(products, pd.DataFrame) or products.empty:
            raise ValueError("QueryParser.fit needs a non-empty products DataFrame")
        if "title" not in products.columns:
            raise ValueError(f"products need a 'title' column; got {list(products.columns)}")

        def col(name: str) -> pd.Series:
            return products[name] if name in products.columns else pd.Series([], dtype=object)

        self.brands_ = _vocab(col("brand"))
        self.colors_ = _vocab(col("color"))
        self.sizes_ = _vocab(col("size"))
        self.materials_ = _vocab(col("material"))
        self.targets_ = {}
        for key, value in _vocab(col("target")).items():
            canonical = lx.TARGET_WORDS.get(key, key)
            self.targets_.setdefault(canonical, value)
        self.categories_ = sorted(_vocab(col("category")).values())
        if self.spelling:
            texts: list[str] = []
            for name in ("title", "brand", "category", "color", "material", "description"):
                if name in products.columns:
                    texts.extend(products[name].dropna().astype(str).str.replace(">", " "))
            self.speller_: SpellCorrector | None = SpellCorrector(
                max_distance=self.spell_max_distance,
                min_query_count=self.spell_min_query_count,
                protected=self._closed_class_words(),
            ).fit(texts, query_log)
        else:
            self.speller_ = None
        self._compile()
        return self

    @staticmethod
    def _closed_class_words() -> list[str]:
        words: set[str] = set(lx.COMMON_QUERY_WORDS) | set(lx.EDGE_CONNECTORS) | set(lx.SIZE_WORDS)
        phrases: list[str] = [
            *lx.COLOR_WORDS,
            *lx.TARGET_WORDS,
            *lx.TARGET_PREFIXES,
            *lx.GIFT_WORDS,
            *lx.PRICE_HINT_WORDS,
            *lx.MAX_BEFORE,
            *lx.MIN_BEFORE,
            *lx.MAX_AFTER,
            *lx.MIN_AFTER,
            *lx.RANGE_BEFORE,
            *lx.RANGE_JOIN,
            *lx.LETTER_SIZES,
            "reais",
            "real",
            "dollar",
            "dollars",
            "bucks",
            "rupee",
            "rupees",
            "rupaye",
            "euro",
            "euros",
        ]
        for p in phrases:
            words.update(normalize(p).replace("'", " ").split())
            words.update(normalize(p).split())
        return sorted(words)

    # --- patterns --------------------------------------------------------------------------
    def _compile(self) -> None:
        alt = _alternation
        f = re.compile
        self._price_res: list[tuple[str, re.Pattern[str]]] = [
            (
                "range",
                f(
                    rf"{_L}(?:{alt(lx.RANGE_BEFORE)})\s+{_amount('a')}\s*(?:{alt(lx.RANGE_JOIN)})\s*{_amount('b')}{_R}"
                ),
            ),
            (
                "range",
                f(rf"{_L}{_amount('a')}\s*(?:से|-)\s*{_amount('b')}\s*(?:{alt(lx.HINDI_RANGE_AFTER)}){_R}"),
            ),
            # A bare "N-M" is a price range unless it is a measure: "5-1/2 in.", "2-3 ft", "10-12 mm".
            # A word join needs spaces round it: "60a44921" is a model code, not "60 a 44921".
            (
                "range",
                f(
                    rf"{_L}{_amount('a')}(?:\s*[-–]\s*|\s+(?:to|a|ate)\s+){_amount('b')}{_R}(?!/\d){_NOT_A_UNIT}"
                ),
            ),
            ("max", f(rf"{_L}(?:{alt(lx.MAX_BEFORE)})\s*{_amount('a')}{_R}")),
            ("min", f(rf"{_L}(?:{alt(lx.MIN_BEFORE)})\s*{_amount('a')}{_R}")),
            ("max", f(rf"{_L}{_amount('a')}\s*(?:{alt(lx.MAX_AFTER)}){_R}")),
            ("min", f(rf"{_L}{_amount('a')}\s*(?:{alt(lx.MIN_AFTER)}){_R}")),
            # A bare amount with a currency ("R$ 300", "50 dollars") reads as a budget.
            ("max", f(rf"(?:{lx.CURRENCY}\s*(?P<a>{_NUM})|{_L}(?P<b>{_NUM})\s*{lx.CURRENCY_AFTER}){_R}")),
        ]
        self._hint_re = f(rf"{_L}(?:{alt(lx.PRICE_HINT_WORDS)}){_R}")
        self._size_re = f(rf"{_L}(?:{alt(lx.SIZE_WORDS)})\s*[:#]?\s*(?P<v>[a-z0-9][a-z0-9.,/]*){_R}")
        bare_sizes = {k for k in self.sizes_ if re.search(r"[a-z]", k) and len(k) >= 2} | set(lx.LETTER_SIZES)
        self._bare_size_re = f(rf"{_L}(?:{alt(bare_sizes)}){_R}")
        self._gift_re = f(rf"{_L}(?:{alt(lx.GIFT_WORDS)}){_R}")
        bare_targets = [w for w in lx.TARGET_WORDS if normalize(w) not in lx.TARGET_NEEDS_PREFIX]
        self._target_res = [
            f(
                rf"{_L}(?:{alt(lx.TARGET_PREFIXES)})\s+(?P<w>{alt(lx.TARGET_WORDS)})(?:\s+(?:{alt(lx.TARGET_SUFFIXES)}))?{_R}"
            ),
            f(rf"{_L}(?P<w>{alt(lx.TARGET_WORDS)})\s+(?:{alt(lx.TARGET_SUFFIXES)}){_R}"),
            f(rf"{_L}(?P<w>{alt(bare_targets)}){_R}"),
        ]
        self._brand_keys: dict[str, str] = {}
        for key, value in self.brands_.items():
            self._brand_keys[key] = value
            self._brand_keys.setdefault(
                re.sub(r"[\s\-&'.]+", "", key), value
            )  # "under armour" typed "underarmour"
            if "&" in key:  # "black & decker" typed "black and decker"
                self._brand_keys.setdefault(re.sub(r"\s*&\s*", " and ", key), value)
        self._brand_re = f(rf"{_L}(?:{alt(self._brand_keys)}){_R}")
        self._color_keys: dict[str, list[str]] = {k: [v] for k, v in self.colors_.items()}
        for word, base in lx.COLOR_WORDS.items():
            key = normalize(word)
            if key in self._color_keys:
                continue
            if base in self.colors_:
                self._color_keys[key] = [self.colors_[base]]
            else:
                within = [v for k, v in self.colors_.items() if base in k.split()]
                self._color_keys[key] = within or [base]
        self._color_re = f(rf"{_L}(?:{alt(self._color_keys)}){_R}")
        self._material_re = f(rf"{_L}(?:{alt(self.materials_)}){_R}")

    # --- parsing ---------------------------------------------------------------------------
    def correct(self, query: str) -> str:
        """The normalised, spell-corrected query (normalised only when spelling is off)."""
        self._check_fitted()
        q = normalize(query[: self.max_query_chars])
        return self.speller_.correct(q) if self.speller_ is not None else q

    def parse(self, query: str) -> ParsedQuery:
        """Structured intent of ``query``; ``text`` keeps what retrieval should match on."""
        self._check_fitted()
        if not isinstance(query, str):
            raise TypeError(f"query must be a string, got {type(query).__name__}")
        raw = query[: self.max_query_chars]
        normalized = normalize(raw)
        work = self.correct(raw)
        out: dict[str, Any] = {"query": raw, "corrected": work if work != normalized else None}

        # 1. price bounds (removed from the text)
        for kind, pattern in self._price_res:
            work = pattern.sub(lambda m, kind=kind: self._on_price(m, kind, out), work)
        work = self._hint_re.sub(lambda m: self._set(out, "price_hint", lx_hint(m.group(0))), work)

        # 2. sizes written with a size word (removed), gift and recipient phrases (removed)
        sizes: list[str] = []
        work = self._size_re.sub(lambda m: self._add(sizes, self._size_value(m.group("v"))), work)
        gift = bool(self._gift_re.search(work))
        work = self._gift_re.sub(" ", work)
        for pattern in self._target_res:
            work = pattern.sub(lambda m: self._on_target(m.group("w"), out), work)

        # 3. attribute values (kept in the text unless keep_attributes_in_text is off); brands are
        # masked first so a colour inside a brand name ("Black & Decker") is not read as a colour.
        brands: list[str] = []
        masked: list[str] = []

        def on_brand(m: re.Match[str]) -> str:
            key = _SPACE_RE.sub(" ", m.group(0))
            self._add(brands, self._brand_keys.get(key, key))
            if not self.keep_attributes_in_text:
                return " "
            masked.append(m.group(0))
            return f"\x00{chr(0xE000 + len(masked) - 1)}\x00"

        work = self._brand_re.sub(on_brand, work)
        colors: list[str] = []

        def on_color(m: re.Match[str]) -> str:
            values = self._color_keys.get(_SPACE_RE.sub(" ", m.group(0)), [])
            for v in values:
                self._add(colors, v)
            # Translate "vermelho"/"लाल" to the catalog's own word so lexical retrieval matches it.
            return f" {normalize(values[0])} " if self.keep_attributes_in_text and values else " "

        work = self._color_re.sub(on_color, work)
        materials: list[str] = []
        work = self._material_re.sub(
            lambda m: self._keep(self._add(materials, self.materials_[_SPACE_RE.sub(" ", m.group(0))]), m),
            work,
        )
        work = self._bare_size_re.sub(
            lambda m: self._keep(self._add(sizes, self._size_value(m.group(0))), m), work
        )
        work = _PLACEHOLDER_RE.sub(lambda m: masked[ord(m.group(1)) - 0xE000], work)

        parsed = ParsedQuery(
            **out,
            text=_tidy(work),
            colors=colors,
            sizes=sizes,
            brands=brands,
            materials=materials,
            is_gift=gift,
        )
        parsed.explain = parsed.build_explain()
        return parsed

    # --- match callbacks ---------------------------------------------------------------------
    def _keep(self, _: str, m: re.Match[str]) -> str:
        return m.group(0) if self.keep_attributes_in_text else " "

    @staticmethod
    def _add(values: list[str], value: str) -> str:
        if value not in values:
            values.append(value)
        return " "

    @staticmethod
    def _set(out: dict[str, Any], key: str, value: Any) -> str:
        out.setdefault(key, value)
        return " "

    def _size_value(self, raw: str) -> str:
        key = raw.strip(".,")
        return self.sizes_.get(key, key.upper() if key.isalpha() else key)

    def _on_target(self, word: str, out: dict[str, Any]) -> str:
        canonical = lx.TARGET_WORDS_NORMALIZED[_SPACE_RE.sub(" ", word)]
        return self._set(out, "target", self.targets_.get(canonical, canonical))

    @staticmethod
    def _on_price(m: re.Match[str], kind: str, out: dict[str, Any]) -> str:
        groups = m.groupdict()
        if kind == "range":
            lo, hi = sorted((_to_number(groups["a"]), _to_number(groups["b"])))
            out.setdefault("price_min", lo)
            out.setdefault("price_max", hi)
        else:
            value = _to_number(groups.get("a") or groups["b"])
            out.setdefault("price_max" if kind == "max" else "price_min", value)
        return " "

    def _check_fitted(self) -> None:
        if not hasattr(self, "brands_"):
            raise RuntimeError("QueryParser is not fitted: call fit() or load() first")

    # --- persistence -----------------------------------------------------------------------
    def save(self, directory: str | Path) -> list[Path]:
        self._check_fitted()
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        state = {
            "params": {
                "spelling": self.spelling,
                "keep_attributes_in_text": self.keep_attributes_in_text,
                "max_query_chars": self.max_query_chars,
                "spell_max_distance": self.spell_max_distance,
                "spell_min_query_count": self.spell_min_query_count,
            },
            "brands": self.brands_,
            "colors": self.colors_,
            "sizes": self.sizes_,
            "materials": self.materials_,
            "targets": self.targets_,
            "categories": self.categories_,
        }
        (d / _FILE).write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
        paths = [d / _FILE]
        if self.speller_ is not None:
            paths.append(self.speller_.save(d))
        return paths

    @classmethod
    def load(cls, directory: str | Path) -> QueryParser:
        d = Path(directory)
        if not (d / _FILE).is_file():
            raise FileNotFoundError(f"no query parser at {d / _FILE}")
        state = json.loads((d / _FILE).read_text(encoding="utf-8"))
        obj = cls(**state["params"])
        obj.brands_ = state["brands"]
        obj.colors_ = state["colors"]
        obj.sizes_ = state["sizes"]
        obj.materials_ = state["materials"]
        obj.targets_ = state["targets"]
        obj.categories_ = state["categories"]
        obj.speller_ = SpellCorrector.load(d) if obj.spelling else None
        obj._compile()
        return obj


def lx_hint(phrase: str) -> str:
    return lx.PRICE_HINT_NORMALIZED[_SPACE_RE.sub(" ", phrase)]


def _tidy(text: str) -> str:
    """Collapse spaces, drop stray punctuation and connectors left dangling at either end."""
    words = _SPACE_RE.sub(" ", _PUNCT_ONLY_RE.sub(" ", text)).strip().split(" ")
    while words and (words[0] in lx.EDGE_CONNECTORS or not words[0]):
        words.pop(0)
    while words and (words[-1] in lx.EDGE_CONNECTORS or not words[-1]):
        words.pop()
    return " ".join(words)
