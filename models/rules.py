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
                "hide": ["SKU-9"], "redirect": "/pages/drills"},
               {"id": "sale-emails", "surfaces": ["customer", "email"], "boost": [{"on_sale": true, "factor": 3}]}],
     "loyalty": {"tiers": [{"name": "silver"}, {"name": "gold", "min_points": 1000, "min_purchases": 10}]}}

A rule applies to the ``surfaces`` it names: ``search`` (the default; fired by its ``match``) and
the recommendation lists ``customer``, ``similar``, ``bought_together``, ``cart`` and the email jobs
``email``, where it needs no ``match`` and applies to every list (``apply_surface``). ``on_sale`` and
``new_arrival_days`` adjustments read the request's :class:`Signals`. ``loyalty`` lists the tiers,
lowest first (``models/loyalty.py``), and ``member_offer_boost`` (default 2): the factor on a
member's recommendation and email scores of the member-only products their tier unlocks.

Bounds (a rules PUT is an admin's, but it must not be able to slow every search down): at most
``max_rules`` rules (``Settings.max_rules``, 2,000 by default, never more than ``MAX_RULES``), match
phrases of at most ``MAX_MATCH_WORDS`` words, bounded pins / boosts / buries / hides per rule and
bounded synonym tables; a search applies at most ``MAX_FIRED`` rules (the first in file order),
finds them with dictionary lookups of the query's phrases (never a scan of every rule) and reads the
columns its boosts and buries compare once per search. A
redirect is a site path (``/...``, never ``//``) or an ``https://`` URL whose host is in
``Settings.redirect_hosts`` (enforced where the service validates a PUT; offline tools accept any
https host).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from models.catalog import Catalog
from models.errors import OmnirankError
from models.files import atomic_write
from models.query.synonyms import SynonymSet
from models.text import normalize, tokenize

ATTRIBUTES = ("color", "size", "material", "target")
SURFACES = ("search", "customer", "similar", "bought_together", "cart", "email")
"""Where a rule may apply: search (by its ``match``), the recommendation lists and the email jobs."""
Surface = Literal["search", "customer", "similar", "bought_together", "cart", "email"]
logger = logging.getLogger(__name__)
_NO_STOPWORDS: frozenset[str] = frozenset()

MAX_RULES = 10_000
"""Ceiling of any rules document; the service refuses more than ``Settings.max_rules`` (<= this)."""
DEFAULT_MAX_RULES = 2_000
MAX_MATCH_WORDS = 8
"""Words in a match phrase (``exact`` or ``contains``) and in a synonym phrase."""
MAX_FIRED = 16
"""Rules one query applies at most (the first that fire, in file order): bounds a search's cost."""
MAX_SYNONYM_GROUPS = 5_000
MAX_SYNONYM_PHRASES = 20
"""Phrases in a two-way group, and targets of a one-way synonym."""


@dataclass(frozen=True)
class RuleLimits:
    """Limits that depend on the deployment (``Settings``); see :func:`rule_limits`."""

    max_rules: int = MAX_RULES
    redirect_hosts: frozenset[str] | None = None
    """Hosts an ``https://`` redirect may name; ``None`` (offline tools): any host."""

    @classmethod
    def of(cls, max_rules: int, redirect_hosts: list[str] | tuple[str, ...]) -> RuleLimits:
        return cls(
            min(int(max_rules), MAX_RULES), frozenset(h.strip().lower() for h in redirect_hosts if h.strip())
        )


_DEFAULT_LIMITS = RuleLimits()
_LIMITS: ContextVar[RuleLimits | None] = ContextVar("omnirank_rule_limits", default=None)


@contextmanager
def rule_limits(limits: RuleLimits | None) -> Iterator[RuleLimits | None]:
    """Validate rules under ``limits`` inside this block (the service sets them for each request,
    from its settings, so a PUT is checked against them); a validation ``context={"limits": ...}``
    takes precedence."""
    token = _LIMITS.set(limits)
    try:
        yield limits
    finally:
        _LIMITS.reset(token)


def _limits(info: ValidationInfo | None = None) -> RuleLimits:
    context = info.context if info is not None else None
    given = context.get("limits") if isinstance(context, dict) else None
    return given if isinstance(given, RuleLimits) else (_LIMITS.get() or _DEFAULT_LIMITS)


def _phrase(text: str) -> tuple[str, ...]:
    return tuple(tokenize(text, stopwords=_NO_STOPWORDS))


@functools.lru_cache(maxsize=65_536)
def _category_key(path: str) -> str:
    return " > ".join(normalize(p) for p in str(path).split(">") if p.strip())


_normalized = functools.lru_cache(maxsize=65_536)(normalize)


class _Candidates:
    """The columns a boost or bury compares, read once per search for its candidates (each already
    normalised), so a rule that fires costs a vectorised comparison per adjustment."""

    def __init__(self, catalog: Catalog, items: np.ndarray, signals: Signals | None = None) -> None:
        self.products = catalog.products
        self.items = items
        self.signals = signals
        self._columns: dict[str, np.ndarray] = {}
        self._below: dict[str, list[int]] | None = None

    def column(self, name: str) -> np.ndarray:
        found = self._columns.get(name)
        if found is None:
            if name not in self.products.columns:
                found = np.full(len(self.items), "", dtype=object)
            else:
                values = self.products[name].iloc[self.items].to_numpy(dtype=object)
                key = {"brand": str.casefold, "category": _category_key}.get(name, _normalized)
                found = np.array([key(v) if isinstance(v, str) else "" for v in values], dtype=object)
            self._columns[name] = found
        return found

    def in_category(self, key: str) -> np.ndarray:
        """Which candidates are in category ``key`` (a normalised path) or below it."""
        if self._below is None:
            self._below = {}
            for i, path in enumerate(self.column("category")):
                parts = path.split(" > ") if path else []
                for depth in range(1, len(parts) + 1):
                    self._below.setdefault(" > ".join(parts[:depth]), []).append(i)
        mask = np.zeros(len(self.items), dtype=bool)
        mask[self._below.get(key, [])] = True
        return mask


@dataclass(frozen=True)
class Signals:
    """Per-item facts of one request that ``on_sale`` / ``new_arrival_days`` adjustments read, as
    arrays over the (live) catalog: on sale now for this shopper (live price below list price), and
    days since the product was first seen (listed, or added live); NaN when unknown."""

    on_sale: np.ndarray | None = None
    age_days: np.ndarray | None = None

    def sale(self, items: np.ndarray) -> np.ndarray:
        if self.on_sale is None:
            return np.zeros(len(items), dtype=bool)
        return np.asarray(self.on_sale, dtype=bool)[items]

    def new(self, items: np.ndarray, days: int) -> np.ndarray:
        if self.age_days is None:
            return np.zeros(len(items), dtype=bool)
        age = np.asarray(self.age_days, dtype=np.float64)[items]
        return np.isfinite(age) & (age <= days)


class RulesError(OmnirankError, ValueError):
    """Rules that parse but do not fit the catalog (unknown sku, brand, category or attribute value)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    """Exactly one of: the whole normalised query equals ``exact``, or it contains the phrase ``contains``."""

    exact: str | None = Field(None, min_length=1, max_length=200, examples=["drill"])
    contains: str | None = Field(None, min_length=1, max_length=200, examples=["gift"])
    _tokens: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _one(self) -> Match:
        if (self.exact is None) == (self.contains is None):
            raise ValueError("match needs exactly one of 'exact' or 'contains'")
        tokens = _phrase(self.exact or self.contains or "")
        if not tokens:
            raise ValueError("match text has no searchable word")
        if len(tokens) > MAX_MATCH_WORDS:
            raise ValueError(f"match text has {len(tokens)} words; the limit is {MAX_MATCH_WORDS}")
        self._tokens = tokens
        return self

    @property
    def tokens(self) -> tuple[str, ...]:
        return self._tokens or _phrase(self.exact or self.contains or "")

    def matches(self, query_tokens: tuple[str, ...]) -> bool:
        phrase = self.tokens
        if self.exact is not None:
            return query_tokens == phrase
        n = len(phrase)
        return any(query_tokens[i : i + n] == phrase for i in range(len(query_tokens) - n + 1))


class Pin(_Strict):
    sku: str = Field(min_length=1, max_length=128)
    position: int = Field(ge=1, le=1000, description="1-based rank in the whole result list")


class Adjust(_Strict):
    """Products with this brand / in this category (or below) / with this attribute value / on sale
    now (``on_sale: true``) / first seen within ``new_arrival_days`` days: score x factor.

    ``factor`` is always > 1: a boost multiplies the score by it, a bury divides by it.
    """

    brand: str | None = Field(None, min_length=1, max_length=200)
    category: str | None = Field(
        None, min_length=1, max_length=300, description="a path or any prefix of one"
    )
    attribute: str | None = Field(None, description=f"one of {', '.join(ATTRIBUTES)}")
    value: str | None = Field(None, min_length=1, max_length=200, description="the attribute value")
    on_sale: Literal[True] | None = Field(
        None, description="products whose live price is below their list price"
    )
    new_arrival_days: int | None = Field(
        None,
        ge=1,
        le=365,
        description="products first seen (listed or added live) this many days ago or less",
    )
    factor: float = Field(gt=1.0, le=100.0)

    @model_validator(mode="after")
    def _one(self) -> Adjust:
        kinds = ("brand", "category", "attribute", "on_sale", "new_arrival_days")
        given = [n for n in kinds if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'brand', 'category', 'attribute' (with 'value'), 'on_sale' or 'new_arrival_days'"
            )
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
        if self.on_sale:
            return "on sale"
        if self.new_arrival_days is not None:
            return f"new in the last {self.new_arrival_days} days"
        return f"{self.attribute} {self.value!r}"

    @property
    def kind(self) -> str:
        """The reason code of a product this adjustment boosts: on_sale, new_arrival or promoted."""
        return (
            "on_sale" if self.on_sale else "new_arrival" if self.new_arrival_days is not None else "promoted"
        )

    def mask(self, catalog: Catalog, items: np.ndarray, candidates: _Candidates | None = None) -> np.ndarray:
        columns = candidates if candidates is not None else _Candidates(catalog, items)
        if self.brand is not None:
            return np.asarray(columns.column("brand") == self.brand.casefold(), dtype=bool)
        if self.category is not None:
            return columns.in_category(_category_key(self.category))
        if self.on_sale or self.new_arrival_days is not None:
            signals = columns.signals or Signals()
            if self.on_sale:
                return signals.sale(np.asarray(items, dtype=np.int64))
            return signals.new(np.asarray(items, dtype=np.int64), int(self.new_arrival_days or 0))
        want = _normalized(self.value or "")
        return np.asarray(columns.column(self.attribute or "") == want, dtype=bool) & bool(want)


class QueryRule(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", description="unique, shown in rules_fired")
    description: str = Field("", max_length=500)
    enabled: bool = True
    surfaces: list[Surface] = Field(
        default_factory=lambda: ["search"],
        min_length=1,
        max_length=len(SURFACES),
        description="where the rule applies: search (when its match fires) and/or the recommendation lists "
        "customer, similar, bought_together, cart and the email jobs (email), where it always applies; "
        "default search only",
    )
    match: Match | None = Field(None, description="required when the rule applies to search")
    pin: list[Pin] = Field(default_factory=list, max_length=50)
    boost: list[Adjust] = Field(default_factory=list, max_length=20)
    bury: list[Adjust] = Field(default_factory=list, max_length=20)
    hide: list[str] = Field(default_factory=list, max_length=500)
    redirect: str | None = Field(
        None,
        max_length=2000,
        description="a site path /... (not //), or an https:// URL on a host listed in the service's redirect_hosts",
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
        if "search" in self.surfaces and self.match is None:
            raise ValueError(f"rule {self.id!r} applies to search and needs a 'match'")
        if len(set(self.surfaces)) != len(self.surfaces):
            raise ValueError(f"rule {self.id!r} names a surface twice")
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

    @field_validator("hide")
    @classmethod
    def _skus(cls, v: list[str]) -> list[str]:
        if any(not isinstance(s, str) or not s.strip() or len(s) > 128 for s in v):
            raise ValueError("hide holds skus: non-blank strings of at most 128 characters")
        return v

    @field_validator("redirect")
    @classmethod
    def _url(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch == "\\" for ch in v):
            raise ValueError("redirect must not contain spaces, backslashes or control characters")
        if v.startswith("/"):
            if v.startswith("//"):
                raise ValueError("redirect path must not start with '//' (that is another site)")
            return v
        if not v.lower().startswith("https://"):
            raise ValueError("redirect must be a site path starting with '/' or an https:// URL")
        try:
            parts = urlsplit(v)
            host = (parts.hostname or "").lower()
        except ValueError:
            raise ValueError("redirect is not a valid URL") from None
        if not host or "@" in parts.netloc:
            raise ValueError("redirect URL needs a host and no user name")
        allowed = _limits(info).redirect_hosts
        if allowed is not None and host not in allowed:
            raise ValueError(
                f"redirect host {host!r} is not an allowed redirect host "
                f"(redirect_hosts: {sorted(allowed)}; set OMNIRANK_REDIRECT_HOSTS)"
            )
        return v


class Synonyms(_Strict):
    two_way: list[list[str]] = Field(
        default_factory=list,
        max_length=MAX_SYNONYM_GROUPS,
        description=f"groups whose phrases all mean the same (at most {MAX_SYNONYM_PHRASES} phrases each)",
    )
    one_way: dict[str, list[str]] = Field(
        default_factory=dict, max_length=MAX_SYNONYM_GROUPS, description="phrase -> what it also means"
    )
    max_expansions: int = Field(5, ge=0, le=20)

    @model_validator(mode="after")
    def _valid(self) -> Synonyms:
        for i, group in enumerate(self.two_way):
            if len(group) > MAX_SYNONYM_PHRASES:
                raise ValueError(
                    f"synonyms two_way group {i} has {len(group)} phrases; the limit is {MAX_SYNONYM_PHRASES}"
                )
            if len([g for g in group if _phrase(g)]) < 2:
                raise ValueError(
                    f"synonyms two_way group {i} {group!r} needs at least two phrases with words"
                )
        for source, targets in self.one_way.items():
            if len(targets) > MAX_SYNONYM_PHRASES:
                raise ValueError(
                    f"synonyms one_way {source!r} has {len(targets)} targets; the limit is {MAX_SYNONYM_PHRASES}"
                )
            if not targets or not all(_phrase(t) for t in targets):
                raise ValueError(f"synonyms one_way {source!r} needs a list of phrases with words")
        phrases = [p for group in self.two_way for p in group] + [
            p for k, v in self.one_way.items() for p in (k, *v)
        ]
        for phrase in phrases:
            if len(phrase) > 200 or len(_phrase(phrase)) > MAX_MATCH_WORDS:
                raise ValueError(
                    f"synonym phrase {phrase[:40]!r} is too long (at most 200 characters, {MAX_MATCH_WORDS} words)"
                )
        try:
            SynonymSet.from_dict(self.model_dump())
        except ValueError as exc:
            raise ValueError(f"synonyms: {exc}") from None
        return self


class Tier(_Strict):
    """A loyalty tier: a member reaches it with ``min_points`` points or ``min_purchases`` purchases
    (either suffices when both are given; neither: the entry tier)."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
    min_points: int | None = Field(None, ge=0)
    min_purchases: int | None = Field(None, ge=0)


class Loyalty(_Strict):
    """The loyalty programme's tiers, lowest first. Their order ranks them: a member-only product
    (``member_tier_min``) and a tier price are for that tier and every tier above it."""

    tiers: list[Tier] = Field(default_factory=list, max_length=20)
    member_offer_boost: float = Field(
        2.0,
        ge=1.0,
        le=100.0,
        description="A member's recommendations and emails multiply the score of the member-only "
        "products their tier unlocks by this (reason member_offer); 1 turns it off.",
    )

    @model_validator(mode="after")
    def _unique(self) -> Loyalty:
        names = [t.name.casefold() for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("loyalty tier names must be unique")
        return self


class SurfaceApplied(NamedTuple):
    """A recommendation or email list after its surface's rules: items, scores, the rules that
    applied, and why each promoted item is where it is (``promoted``, ``on_sale``, ``new_arrival``)."""

    items: np.ndarray
    scores: np.ndarray
    fired: list[str]
    reasons: dict[int, str]


class Applied(NamedTuple):
    items: np.ndarray
    scores: np.ndarray
    fired: list[str]
    redirect: str | None
    pinned: frozenset[int] = frozenset()  # items a merchandiser put where they are: never "relaxed"


class RuleSet(BaseModel):
    """Synonyms + query rules; ``apply`` re-ranks one fused result list."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: int = Field(1, ge=1, le=1)
    synonyms: Synonyms = Field(default_factory=Synonyms)
    rules: list[QueryRule] = Field(
        default_factory=list,
        max_length=MAX_RULES,
        description=f"at most the service's max_rules ({DEFAULT_MAX_RULES} by default)",
    )
    loyalty: Loyalty = Field(default_factory=Loyalty)
    _synonym_set: SynonymSet = PrivateAttr()
    _exact: dict[tuple[str, ...], list[int]] = PrivateAttr(default_factory=dict)
    _contains: dict[tuple[str, ...], list[int]] = PrivateAttr(default_factory=dict)
    _longest: int = PrivateAttr(default=0)

    @field_validator("rules", mode="before")
    @classmethod
    def _bounded(cls, v: Any, info: ValidationInfo) -> Any:
        """Counted before any rule is parsed, so an oversized PUT costs nothing."""
        limit = _limits(info).max_rules
        if isinstance(v, (list, tuple)) and len(v) > limit:
            raise ValueError(f"at most {limit} rules (the max_rules limit), got {len(v)}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _text(cls, data: Any) -> Any:
        """Every text must be storable: a lone surrogate (valid in JSON, not in UTF-8) would fail
        only when the rules file is written."""
        stack, seen = [data], 0
        while stack and seen < 1_000_000:
            node = stack.pop()
            seen += 1
            if isinstance(node, str):
                if any(0xD800 <= ord(ch) <= 0xDFFF for ch in node):
                    raise ValueError(
                        f"text {node[:40].encode('utf-8', 'replace').decode()!r} is not valid unicode"
                    )
            elif isinstance(node, dict):
                stack.extend(node.keys())
                stack.extend(node.values())
            elif isinstance(node, (list, tuple)):
                stack.extend(node)
        return data

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"rule ids must be unique; repeated: {dupes}")
        return self

    def model_post_init(self, context: Any) -> None:
        self._synonym_set = SynonymSet.from_dict(self.synonyms.model_dump())
        # The rules a query fires are found by lookups: its whole phrase (exact) and each of its
        # phrases of up to the longest rule phrase's length (contains); no rule is scanned.
        for i, rule in enumerate(self.rules):
            if not rule.enabled or rule.match is None or "search" not in rule.surfaces:
                continue
            tokens = rule.match.tokens
            index = self._exact if rule.match.exact is not None else self._contains
            index.setdefault(tokens, []).append(i)
            if rule.match.contains is not None:
                self._longest = max(self._longest, len(tokens))

    # --- validation against a catalog ------------------------------------------------------------
    def problems(self, catalog: Catalog) -> list[str]:
        """Everything in the rules the catalog does not know, each message naming its rule."""
        p = catalog.products
        # distinct values only: a pass over every row's Python string would write ~4 MiB of pages
        # each pre-forked worker otherwise shares with its master
        brands = {str(b).casefold() for b in p["brand"].dropna().unique()} if "brand" in p.columns else set()
        categories: set[str] = set()
        for path in p["category"].dropna().astype(str).unique():
            parts = _category_key(path).split(" > ")
            categories.update(" > ".join(parts[: i + 1]) for i in range(len(parts)))
        values = {
            a: {normalize(v) for v in p[a].dropna().astype(str).unique()}
            for a in ATTRIBUTES
            if a in p.columns
        }
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
        """The enabled rules ``query`` fires, in file order, at most ``MAX_FIRED`` of them."""
        tokens = _phrase(query)
        if not tokens:
            return []
        found = set(self._exact.get(tokens, ()))
        if self._contains:
            for n in range(1, min(self._longest, len(tokens)) + 1):
                for start in range(len(tokens) - n + 1):
                    found.update(self._contains.get(tokens[start : start + n], ()))
        return [self.rules[i] for i in sorted(found)[:MAX_FIRED]]

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
        candidates = _Candidates(catalog, items)
        for rule in rules:
            for adj in rule.boost:
                factor[adj.mask(catalog, items, candidates)] *= adj.factor
            for adj in rule.bury:
                factor[adj.mask(catalog, items, candidates)] /= adj.factor
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
        return Applied(items, scores, [r.id for r in rules], redirect, frozenset(taken))

    def for_surface(self, surface: str) -> list[QueryRule]:
        """The enabled rules of a recommendation or email surface, in file order (at most ``MAX_FIRED``)."""
        if surface == "search":
            raise ValueError("search rules fire by their match: use fired(query)")
        return [r for r in self.rules if r.enabled and surface in r.surfaces][:MAX_FIRED]

    def hidden(self, surface: str, catalog: Catalog) -> np.ndarray | None:
        """Items the surface's rules hide, as a mask over ``catalog`` (None when none)."""
        items = [
            catalog.sku_index[s] for r in self.for_surface(surface) for s in r.hide if s in catalog.sku_index
        ]
        if not items:
            return None
        mask = np.zeros(len(catalog), dtype=bool)
        mask[items] = True
        return mask

    def apply_surface(
        self,
        surface: str,
        items: np.ndarray,
        scores: np.ndarray,
        catalog: Catalog,
        allowed: np.ndarray | None = None,
        signals: Signals | None = None,
    ) -> SurfaceApplied:
        """``apply`` for a recommendation list or an email: the same hide, boost / bury, pin, with
        no query (every enabled rule of ``surface`` applies). A pinned sku is inserted only where
        ``allowed`` (the list's eligibility: channel, stock, membership) admits it; a boost that
        moves an item up (or a pin) names its kind in ``reasons``."""
        rules = self.for_surface(surface)
        items = np.asarray(items, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float64).copy()
        if not rules:
            return SurfaceApplied(items, scores, [], {})
        hidden = {catalog.sku_index[s] for r in rules for s in r.hide if s in catalog.sku_index}
        if hidden:
            keep = ~np.isin(items, list(hidden))
            items, scores = items[keep], scores[keep]
        reasons: dict[int, str] = {}
        factor = np.ones(len(items))
        candidates = _Candidates(catalog, items, signals)
        for rule in rules:
            for adj in rule.boost:
                mask = adj.mask(catalog, items, candidates)
                factor[mask] *= adj.factor
                for item in items[mask].tolist():
                    reasons.setdefault(int(item), adj.kind)
            for adj in rule.bury:
                factor[adj.mask(catalog, items, candidates)] /= adj.factor
        if len(items) and not np.all(factor == 1.0):
            # list scores may be negative or zero (a pinned complement): rank by position-free
            # scores shifted positive, so a boost always moves an item up
            base = scores - (scores.min() if len(scores) else 0.0) + 1.0
            scores = base * factor
            order = np.argsort(-scores, kind="stable")
            items, scores, factor = items[order], scores[order], factor[order]
        boosted = {int(i) for i, f in zip(items.tolist(), factor.tolist(), strict=True) if f > 1.0}
        reasons = {i: r for i, r in reasons.items() if i in boosted}
        taken: list[tuple[int, int]] = []
        seen: set[int] = set()
        for rule in rules:
            for pin in rule.pin:
                item = catalog.sku_index.get(pin.sku)
                if item is None or item in seen or item in hidden:
                    continue
                if allowed is not None and not allowed[item]:
                    continue
                seen.add(item)
                taken.append((pin.position, item))
        if taken:
            ranked = [(int(i), float(s)) for i, s in zip(items, scores, strict=True) if int(i) not in seen]
            for position, item in sorted(taken):
                at = min(position - 1, len(ranked))
                score = ranked[at][1] if at < len(ranked) else (ranked[-1][1] if ranked else 0.0)
                ranked.insert(at, (item, score))
                reasons[item] = "promoted"
            items = np.array([i for i, _ in ranked], dtype=np.int64)
            scores = np.array([s for _, s in ranked], dtype=np.float64)
        return SurfaceApplied(items, scores, [r.id for r in rules], reasons)

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
        """Write atomically (``models.files.atomic_write``): a crash leaves the old file. Readable by
        its owner only, as it always was."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, self.to_json(), mode=0o600)


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
