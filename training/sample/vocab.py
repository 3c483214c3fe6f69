"""The world the sample generator draws from: product types, brands, colours, names, languages.

Everything a product, a person or a query is made of is plain data, so the rules that turn it into
tables (catalog, behaviour, judgments) stay short and auditable. The data lives in ``data/``:
``product_types.json`` (the product types with their palettes, season curves and sizes),
``world.json`` (brands, model names, people's names, stores, planted bundles, campaign themes, colour
and recipient words) and ``bengali.json``; this module loads it into the tuples, dicts and frozen
dataclasses below, every JSON list as a tuple.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_DATA = Path(__file__).with_name("data")


@dataclass(frozen=True)
class Feature:
    """A property a product of some type may have; it drives descriptions and intent queries."""

    key: str
    adjective: str
    sentence: str
    intents: tuple[str, ...]


@dataclass(frozen=True)
class ProductType:
    """A second-level category ('Footwear > Running Shoes') and how its products look."""

    path: str
    nouns: tuple[str, ...]
    pt: str
    hi: str
    price: float  # median price
    sigma: float  # log-normal spread
    colors: tuple[str, ...] = ()
    sizes: str = ""  # key into SIZES
    materials: tuple[str, ...] = ()
    targets: tuple[str, ...] = ("unisex",)
    uses: tuple[str, ...] = ()
    features: tuple[Feature, ...] = ()
    replenishment_days: float | None = None
    giftable: bool = False
    season: tuple[float, ...] = field(default=(1.0,) * 12)  # multiplier per calendar month

    @property
    def top(self) -> str:
        return self.path.split(" > ")[0]

    @property
    def name(self) -> str:
        return self.path.split(" > ")[1]


def _load(name: str) -> dict[str, Any]:
    return json.loads((_DATA / name).read_text(encoding="utf-8"))


def _tuples(value: Any) -> Any:
    """A JSON value with every list made a tuple (dicts keep their order)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


_PT = _load("product_types.json")

# colour palettes and season curves (a demand multiplier per calendar month) the types name
_PALETTES: dict[str, tuple[str, ...]] = _tuples(_PT["palettes"])
FASHION = _PALETTES["FASHION"]
TECH = _PALETTES["TECH"]
HOME = _PALETTES["HOME"]
BRIGHT = _PALETTES["BRIGHT"]
_SEASONS: dict[str, tuple[float, ...]] = _tuples(_PT["seasons"])
SPRING = _SEASONS["SPRING"]
SUMMER = _SEASONS["SUMMER"]
AUTUMN = _SEASONS["AUTUMN"]
SCHOOL = _SEASONS["SCHOOL"]
TRAVEL = _SEASONS["TRAVEL"]

# size key -> target ("kids", "women", "men"; "*" for any other) -> the sizes on offer
SIZES: dict[str, dict[str, tuple[str, ...]]] = _tuples(_PT["sizes"])


def _product_type(record: dict[str, Any]) -> ProductType:
    fields = _tuples(record)
    if isinstance(fields.get("colors"), str):
        fields["colors"] = _PALETTES[fields["colors"]]
    if isinstance(fields.get("season"), str):
        fields["season"] = _SEASONS[fields["season"]]
    fields["features"] = tuple(
        Feature(f["key"], f["adjective"], f["sentence"], f["intents"]) for f in fields.get("features", ())
    )
    return ProductType(**fields)


TYPES: tuple[ProductType, ...] = tuple(_product_type(record) for record in _PT["types"])
TYPE_INDEX: dict[str, int] = {t.path: i for i, t in enumerate(TYPES)}

_WORLD: dict[str, Any] = _tuples(_load("world.json"))
# Brands: (name, price tier multiplier, top categories). Several per category; some span many.
BRANDS: tuple[tuple[str, float, tuple[str, ...]], ...] = _WORLD["brands"]
MODEL_STEMS: tuple[str, ...] = _WORLD["model_stems"]
MODEL_SUFFIXES: tuple[str, ...] = _WORLD["model_suffixes"]
GENERIC_ADJECTIVES: tuple[str, ...] = _WORLD["generic_adjectives"]

COLOR_PT: dict[str, str] = _WORLD["color_pt"]
COLOR_HI: dict[str, str] = _WORLD["color_hi"]
TARGET_PT: dict[str, str] = _WORLD["target_pt"]
TARGET_HI: dict[str, str] = _WORLD["target_hi"]
TARGET_EN: dict[str, tuple[str, ...]] = _WORLD["target_en"]

# per country ("BR", "IN", "US")
FIRST_NAMES: dict[str, tuple[str, ...]] = _WORLD["first_names"]
LAST_NAMES: dict[str, tuple[str, ...]] = _WORLD["last_names"]
EMAIL_DOMAINS: dict[str, tuple[str, ...]] = _WORLD["email_domains"]
WORK_DOMAINS: tuple[str, ...] = _WORLD["work_domains"]

# (store id, name, city, country)
STORES: tuple[tuple[str, str, str, str], ...] = _WORLD["stores"]
COUNTRY_SHARE: dict[str, float] = _WORLD["country_share"]

# Planted co-purchase bundles: anchor type -> companion types (bought in the same basket).
BUNDLE_TEMPLATES: tuple[tuple[str, str, tuple[str, ...]], ...] = _WORLD["bundle_templates"]

CAMPAIGN_THEMES: tuple[str, ...] = _WORLD["campaign_themes"]

_BN = _load("bengali.json")
TYPE_BN: dict[str, str] = _BN["types"]  # product type path -> its Bengali name
COLOR_BN: dict[str, str] = _BN["colors"]
TARGET_BN: dict[str, str] = _BN["targets"]  # "ছেলেদের" (men's): the possessive a Bengali shopper types


def speaks_bengali(brand: str, model: str) -> bool:
    """Which Indian shoppers of a product write Bengali rather than Hindi (West Bengal): a third of
    the product lines, fixed by brand and model so the sample's random draws stay as they were."""
    return zlib.crc32(f"{brand} {model}".encode()) % 3 == 0
