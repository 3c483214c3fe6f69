"""Merchandising rules: synonyms plus per-query pin / boost / bury / hide / redirect, validated.

Merchandisers edit these without retraining, so the model is strict (unknown keys, duplicate ids,
empty actions and bad values are rejected with the rule's id in the message) and ``check`` verifies
every sku, brand, category and attribute against the catalog being served. A shipped bundle carries
the default file; the live, editable copy lives in the service's state directory.

File format::

    {"version": 1,
     "synonyms": {"two_way": [["tv", "television"]], "one_way": {"sneakers": ["running shoes"]}},
     "rules": [{"id": "drill-promo", "match": {"exact": "drill"},
                "pin": [{"sku": "SKU-1", "position": 1}],
                "boost": [{"brand": "Acme", "factor": 2}], "bury": [{"attribute": "color", "value": "pink", "factor": 4}],
                "hide": ["SKU-9"], "redirect": "/pages/drills"}]}
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from models.catalog import Catalog
from models.query.synonyms import SynonymSet
from models.text import normalize, tokenize

ATTRIBUTES = ("color", "size", "material", "target")
logger = logging.getLogger(__name__)
_NO_STOPWORDS: frozenset[str] = frozenset()


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(tokenize(text, stopwords=_NO_STOPWORDS))


def _category_key(path: str) -> str:
    return " > ".join(normalize(p) for p in str(path).split(">") if p.strip())


class RulesError(ValueError):
    """Rules that parse but do not fit the catalog (unknown sku, brand, category or attribute value)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    """Exactly one of: the whole normalised query equals ``exact``, or it contains the phrase ``contains``."""

    exact: str | None = Field(None, min_length=1, max_length=200, examples=["drill"])
    contains: str | None = Field(None, min_length=1, max_length=200, examples=["gift"])

    @model_validator(mode="after")
    def _one(self) -> Match:
        if (self.exact is None) == (self.contains is None):
            raise ValueError("match needs exactly one of 'exact' or 'contains'")
        if not _phrase(self.exact or self.contains or ""):
            raise ValueError("match text has no searchable word")
        return self

    def matches(self, query_tokens: tuple[str, ...]) -> bool:
        if self.exact is not None:
            return query_tokens == _phrase(self.exact)
        phrase = _phrase(self.contains or "")
        n = len(phrase)
        return any(query_tokens[i : i + n] == phrase for i in range(len(query_tokens) - n + 1))


class Pin(_Strict):
    sku: str = Field(min_length=1, max_length=128)
    position: int = Field(ge=1, le=1000, description="1-based rank in the whole result list")


class Adjust(_Strict):
    """Products with this brand / in this category (or below) / with this attribute value: score x factor.

    ``factor`` is always > 1: a boost multiplies the score by it, a bury divides by it.
    """

    brand: str | None = Field(None, min_length=1, max_length=200)
    category: str | None = Field(
        None, min_length=1, max_length=300, description="a path or any prefix of one"
    )
    attribute: str | None = Field(None, description=f"one of {', '.join(ATTRIBUTES)}")
    value: str | None = Field(None, min_length=1, max_length=200, description="the attribute value")
    factor: float = Field(gt=1.0, le=100.0)

    @model_validator(mode="after")
    def _one(self) -> Adjust:
        given = [n for n in ("brand", "category", "attribute") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'brand', 'category' or 'attribute' (with 'value')")
        if self.attribute is not None:
            if self.attribute not in ATTRIBUTES:
                raise ValueError(f"attribute {self.attribute!r} is not one of {list(ATTRIBUTES)}")
            if self.value is None:
                raise ValueError(f"attribute {self.attribute!r} needs a 'value'")
        elif self.value is not None:
            raise ValueError("'value' only goes with 'attribute'")
        return self

    def describe(self) -> str:
        if self.brand is not None:
            return f"brand {self.brand!r}"
        if self.category is not None:
            return f"category {self.category!r}"
        return f"{self.attribute} {self.value!r}"

    def mask(self, catalog: Catalog, items: np.ndarray) -> np.ndarray:
        p = catalog.products
        if self.brand is not None:
            values = p["brand"].to_numpy(dtype=object)[items]
            return np.array(
                [isinstance(v, str) and v.casefold() == self.brand.casefold() for v in values], dtype=bool
            )
        if self.category is not None:
            want = _category_key(self.category)
            values = p["category"].to_numpy(dtype=object)[items]
            keys = [_category_key(v) if isinstance(v, str) else "" for v in values]
            return np.array([k == want or k.startswith(want + " > ") for k in keys], dtype=bool)
        if self.attribute not in p.columns:
            return np.zeros(len(items), dtype=bool)
        values = p[self.attribute].to_numpy(dtype=object)[items]
        want = normalize(self.value)
        return np.array([isinstance(v, str) and normalize(v) == want for v in values], dtype=bool)


class QueryRule(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="unique, shown in rules_fired")
    description: str = Field("", max_length=500)
    enabled: bool = True
    match: Match
    pin: list[Pin] = Field(default_factory=list, max_length=50)
    boost: list[Adjust] = Field(default_factory=list, max_length=50)
    bury: list[Adjust] = Field(default_factory=list, max_length=50)
    hide: list[str] = Field(default_factory=list, max_length=500)
    redirect: str | None = Field(
        None, max_length=2000, description="an absolute http(s) URL or a site path /..."
    )

    @model_validator(mode="wrap")
    @classmethod
    def _named(cls, data: Any, handler: Any) -> QueryRule:
        """Prefix every error with the rule's id: a list index means nothing to a merchandiser."""
        try:
            return handler(data)
        except ValidationError as exc:
            rid = data.get("id") if isinstance(data, dict) else getattr(data, "id", None)
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ValueError(f"rule {rid!r}: {problems}") from None

    @model_validator(mode="after")
    def _acts(self) -> QueryRule:
        if not (self.pin or self.boost or self.bury or self.hide or self.redirect):
            raise ValueError(
                f"rule {self.id!r} has no action: give at least one of pin, boost, bury, hide or redirect"
            )
        pinned = [p.sku for p in self.pin]
        if len(set(pinned)) != len(pinned):
            raise ValueError(f"rule {self.id!r} pins the same sku twice")
        if set(pinned) & set(self.hide):
            raise ValueError(f"rule {self.id!r} both pins and hides {sorted(set(pinned) & set(self.hide))}")
        return self

    @field_validator("redirect")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not (v.startswith(("https://", "http://")) or (v.startswith("/") and not v.startswith("//"))):
            raise ValueError("redirect must be an http(s):// URL or a path starting with '/'")
        if any(ch.isspace() or ord(ch) < 32 for ch in v):
            raise ValueError("redirect must not contain spaces or control characters")
        return v


class Synonyms(_Strict):
    two_way: list[list[str]] = Field(
        default_factory=list, description="groups whose phrases all mean the same"
    )
    one_way: dict[str, list[str]] = Field(default_factory=dict, description="phrase -> what it also means")
    max_expansions: int = Field(5, ge=0, le=20)

    @model_validator(mode="after")
    def _valid(self) -> Synonyms:
        for i, group in enumerate(self.two_way):
            if len([g for g in group if _phrase(g)]) < 2:
                raise ValueError(
                    f"synonyms two_way group {i} {group!r} needs at least two phrases with words"
                )
        for source, targets in self.one_way.items():
            if not targets or not all(_phrase(t) for t in targets):
                raise ValueError(f"synonyms one_way {source!r} needs a list of phrases with words")
        try:
            SynonymSet.from_dict(self.model_dump())
        except ValueError as exc:
            raise ValueError(f"synonyms: {exc}") from None
        return self


class Applied(NamedTuple):
    items: np.ndarray
    scores: np.ndarray
    fired: list[str]
    redirect: str | None


class RuleSet(BaseModel):
    """Synonyms + query rules; ``apply`` re-ranks one fused result list."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(1, ge=1, le=1)
    synonyms: Synonyms = Field(default_factory=Synonyms)
    rules: list[QueryRule] = Field(default_factory=list, max_length=10_000)
    _synonym_set: SynonymSet = PrivateAttr()

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique; repeated: {dupes}")
        return self

    def model_post_init(self, context: Any) -> None:
        self._synonym_set = SynonymSet.from_dict(self.synonyms.model_dump())

    # --- validation against a catalog ------------------------------------------------------------
    def problems(self, catalog: Catalog) -> list[str]:
        """Everything in the rules the catalog does not know, each message naming its rule."""
        p = catalog.products
        brands = {str(b).casefold() for b in p["brand"].dropna()} if "brand" in p.columns else set()
        categories: set[str] = set()
        for path in p["category"].dropna().astype(str).unique():
            parts = _category_key(path).split(" > ")
            categories.update(" > ".join(parts[: i + 1]) for i in range(len(parts)))
        values = {a: {normalize(v) for v in p[a].dropna().astype(str)} for a in ATTRIBUTES if a in p.columns}
        out: list[str] = []
        for rule in self.rules:
            for sku in [x.sku for x in rule.pin] + list(rule.hide):
                if sku not in catalog.sku_index:
                    out.append(f"rule {rule.id!r}: unknown sku {sku!r}")
            for adj in [*rule.boost, *rule.bury]:
                if adj.brand is not None and adj.brand.casefold() not in brands:
                    out.append(f"rule {rule.id!r}: unknown brand {adj.brand!r}")
                if adj.category is not None and _category_key(adj.category) not in categories:
                    out.append(f"rule {rule.id!r}: unknown category {adj.category!r}")
                if adj.attribute is not None and normalize(adj.value) not in values.get(adj.attribute, set()):
                    out.append(f"rule {rule.id!r}: no product has {adj.attribute} {adj.value!r}")
        return out

    def check(self, catalog: Catalog) -> RuleSet:
        """Raise ``RulesError`` listing every problem; return self when the catalog knows everything."""
        problems = self.problems(catalog)
        if problems:
            raise RulesError("; ".join(problems))
        return self

    # --- serving ---------------------------------------------------------------------------------
    def expand(self, text: str) -> list[str]:
        """Synonym rewrites of a (parsed) query text, for retrieval."""
        return self._synonym_set.expand(text) if text.strip() else []

    def fired(self, query: str) -> list[QueryRule]:
        tokens = _phrase(query)
        return [r for r in self.rules if r.enabled and tokens and r.match.matches(tokens)]

    def apply(
        self,
        query: str,
        items: np.ndarray,
        scores: np.ndarray,
        catalog: Catalog,
        allowed: np.ndarray | None = None,
    ) -> Applied:
        """Re-rank ``items`` (sorted by ``scores``, best first) with the rules ``query`` fires.

        Order: hide, then boost/bury and re-sort, then pins (by position), so a pin is where the
        merchandiser put it whatever the scores say. A pinned sku not retrieved is inserted if
        ``allowed`` (the request's hard filters, a mask over the catalog) admits it; unknown skus
        (delisted since the rule was written) are skipped.
        """
        rules = self.fired(query)
        if not rules:
            return Applied(items, scores, [], None)
        items = np.asarray(items, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float64).copy()
        hidden = {catalog.sku_index[s] for r in rules for s in r.hide if s in catalog.sku_index}
        if hidden:
            keep = ~np.isin(items, list(hidden))
            items, scores = items[keep], scores[keep]
        factor = np.ones(len(items))
        for rule in rules:
            for adj in rule.boost:
                factor[adj.mask(catalog, items)] *= adj.factor
            for adj in rule.bury:
                factor[adj.mask(catalog, items)] /= adj.factor
        if len(items) and not np.all(factor == 1.0):
            scores = scores * factor
            order = np.argsort(-scores, kind="stable")
            items, scores = items[order], scores[order]
        pins: list[tuple[int, int]] = []
        taken: set[int] = set()
        present = set(items.tolist())
        for rule in rules:
            for pin in rule.pin:
                item = catalog.sku_index.get(pin.sku)
                if item is None or item in taken or item in hidden:
                    continue
                if allowed is not None and not allowed[item] and item not in present:
                    continue
                taken.add(item)
                pins.append((pin.position, item))
        if pins:
            ranked = [(int(i), float(s)) for i, s in zip(items, scores, strict=True) if int(i) not in taken]
            for position, item in sorted(pins):
                at = min(position - 1, len(ranked))
                score = ranked[at][1] if at < len(ranked) else (ranked[-1][1] if ranked else 0.0)
                ranked.insert(at, (item, score))
            items = np.array([i for i, _ in ranked], dtype=np.int64)
            scores = np.array([s for _, s in ranked], dtype=np.float64)
        redirect = next((r.redirect for r in rules if r.redirect), None)
        return Applied(items, scores, [r.id for r in rules], redirect)

    # --- persistence -----------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json", exclude_defaults=False), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, path: str | Path) -> RuleSet:
        path = Path(path)
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except ValidationError as exc:
            raise RulesError(f"rules file {path} is invalid: {describe(exc)}") from None

    @classmethod
    def from_synonyms(cls, synonyms: SynonymSet) -> RuleSet:
        return cls(synonyms=Synonyms.model_validate(synonyms.to_dict()))

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file in the same directory, fsync, rename): a crash leaves the old file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return path


def describe(exc: ValidationError) -> str:
    """One line per problem, with its location in the document."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'rules'}: {e['msg'].removeprefix('Value error, ')}"
        for e in exc.errors()
    )


def load_live_rules(
    live_path: str | Path, bundle_default: str | Path | None, catalog: Catalog, synonyms: SynonymSet
) -> RuleSet:
    """The rules a service starts with: its live file, else (first start) a copy of the bundle's defaults.

    A live file that no longer parses stops the start-up with a clear message (serving silently
    without a merchandiser's rules would be worse). Rules naming products a new catalog dropped only
    warn: at serving time they are no-ops, and the next PUT must fix them.
    """
    live_path = Path(live_path)
    if live_path.is_file():
        rules = RuleSet.from_json(live_path)
    else:
        if bundle_default is not None and Path(bundle_default).is_file():
            rules = RuleSet.from_json(bundle_default)
        else:  # a bundle from before rules shipped: start from its synonyms
            rules = RuleSet.from_synonyms(synonyms)
        rules.save(live_path)
    for problem in rules.problems(catalog):
        logger.warning("%s (in %s)", problem, live_path)
    return rules
