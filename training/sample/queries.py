"""Search queries: the labelled evaluation set, its judgments, and the queries shoppers type in logs.

Every labelled query carries a structured :class:`QuerySpec` (product types, attributes, price
bound, target, brand, feature). Judgments follow from the spec and the product attributes by the
explicit rules in :func:`label_products` and nothing else:

* exact: the product is of a requested type and meets every constraint;
* partial: right type but at least one constraint violated, or a sibling type of the same top
  category that meets every non-type constraint;
* irrelevant: everything else (a few hard negatives from other categories are judged).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.schemas import WANDS_GAIN
from training.sample import vocab

KEYBOARD = {
    "q": "wa",
    "w": "qes",
    "e": "wrd",
    "r": "etf",
    "t": "ryg",
    "y": "tuh",
    "u": "yij",
    "i": "uok",
    "o": "ipl",
    "p": "ol",
    "a": "qsz",
    "s": "adwx",
    "d": "sfe",
    "f": "dgr",
    "g": "fht",
    "h": "gjy",
    "j": "hku",
    "k": "jli",
    "l": "ko",
    "z": "xa",
    "x": "zcs",
    "c": "xvd",
    "v": "cbf",
    "b": "vng",
    "n": "bmh",
    "m": "nj",
}
PHONETIC = (
    ("ph", "f"),
    ("oo", "u"),
    ("ee", "i"),
    ("s", "z"),
    ("c", "k"),
    ("ck", "k"),
    ("er", "ar"),
    ("y", "i"),
)
LOG_PREFIXES = ("", "", "", "best ", "cheap ", "buy ", "looking for ", "i need ", "good ", "new ")
LOG_SUFFIXES = ("", "", "", " online", " sale", " near me", " deal", " offer", " 2026")
GIFT_INTENTS = (
    ("gift for dad under {b}", "men"),
    ("present for my husband under {b}", "men"),
    ("birthday gift for mom under {b}", "women"),
    ("something nice for my wife under {b}", "women"),
    ("gift for a 6 year old under {b}", "kids"),
    ("birthday present for a kid under {b}", "kids"),
    ("secret santa gift under {b}", None),
    ("housewarming present under {b}", None),
    ("gift ideas for my brother under {b}", "men"),
    ("present for my girlfriend under {b}", "women"),
)
KINDS = ("category", "brand", "attribute", "product", "intent", "misspelling", "multilingual")


@dataclass(frozen=True)
class QuerySpec:
    """What a query asks for; ``None`` means no constraint."""

    types: frozenset[int] | None = None
    color: str | None = None
    size: str | None = None
    target: str | None = None
    material: str | None = None
    brand: str | None = None
    family: int | None = None
    feature: str | None = None
    max_price: float | None = None
    giftable: bool = False


class CatalogView:
    """Column arrays of the catalog for vectorised judging."""

    def __init__(self, products: pd.DataFrame) -> None:
        self.products = products
        self.type_idx = products["type_idx"].to_numpy()
        self.top = products["top"].to_numpy()
        self.color = products["color"].to_numpy(dtype=object)
        self.size = products["size"].to_numpy(dtype=object)
        self.target = products["target"].to_numpy(dtype=object)
        self.material = products["material"].to_numpy(dtype=object)
        self.brand = products["brand"].to_numpy(dtype=object)
        self.family = products["family_id"].to_numpy()
        self.price = products["price"].to_numpy()
        self.features = products["features"].to_list()
        self.giftable = np.array([vocab.TYPES[t].giftable for t in self.type_idx])
        self.title_tokens = [set(t.lower().split()) for t in products["title"]]


def _target_ok(cv: CatalogView, target: str) -> np.ndarray:
    if target == "kids":
        return cv.target == "kids"
    return (cv.target == target) | (cv.target == "unisex")


def label_products(spec: QuerySpec, cv: CatalogView) -> np.ndarray:
    """2 = exact, 1 = partial, 0 = irrelevant, for every product (the judgment rules)."""
    n = len(cv.type_idx)
    if spec.types is not None:
        type_ok = np.isin(cv.type_idx, list(spec.types))
        tops = {vocab.TYPES[t].top for t in spec.types}
        related = np.isin(cv.top, list(tops)) & ~type_ok
    else:
        type_ok = np.ones(n, dtype=bool)
        related = np.zeros(n, dtype=bool)
    if spec.giftable:
        type_ok &= cv.giftable
    checks = []
    if spec.color is not None:
        checks.append(cv.color == spec.color)
    if spec.size is not None:
        checks.append(cv.size == spec.size)
    if spec.target is not None:
        checks.append(_target_ok(cv, spec.target))
    if spec.material is not None:
        checks.append(cv.material == spec.material)
    if spec.brand is not None:
        checks.append(cv.brand == spec.brand)
    if spec.family is not None:
        checks.append(cv.family == spec.family)
    if spec.feature is not None:
        checks.append(np.array([spec.feature in f for f in cv.features]))
    if spec.max_price is not None:
        checks.append(cv.price <= spec.max_price)
    all_ok = np.logical_and.reduce(checks) if checks else np.ones(n, dtype=bool)
    out = np.zeros(n, dtype=np.int8)
    out[type_ok] = 1
    out[type_ok & all_ok] = 2
    # A sibling type meeting every other constraint is a related, partially relevant product; a
    # family (model) constraint only makes sense within the type, so it does not extend to siblings.
    if spec.family is None and checks:
        out[related & all_ok] = 1
    elif spec.family is None and spec.types is not None and len(spec.types) == 1:
        out[related] = 1
    return out


def misspell(text: str, rng: np.random.Generator) -> str:
    """1-2 explicit character edits (drop, swap, double, keyboard slip, phonetic) on longer words."""
    words = text.split()
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isascii() and w.isalpha()]
    if not candidates:
        candidates = [i for i, w in enumerate(words) if len(w) >= 3] or [0]
    n_edit = 1 if len(candidates) == 1 or rng.random() < 0.5 else 2
    for i in rng.choice(candidates, size=min(n_edit, len(candidates)), replace=False):
        w = words[i]
        for _ in range(10):
            op = int(rng.integers(6))
            j = int(rng.integers(1, max(len(w) - 1, 2)))
            if op == 0:
                new = w[:j] + w[j + 1 :]
            elif op == 1 and j + 1 < len(w):
                new = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
            elif op == 2:
                new = w[:j] + w[j] + w[j:]
            elif op == 3 and w[j].lower() in KEYBOARD:
                nb = KEYBOARD[w[j].lower()]
                new = w[:j] + nb[int(rng.integers(len(nb)))] + w[j + 1 :]
            elif op == 4:
                pairs = [p for p in PHONETIC if p[0] in w.lower()]
                if not pairs:
                    continue
                a, b = pairs[int(rng.integers(len(pairs)))]
                new = w.lower().replace(a, b, 1)
            else:
                new = w + ("y" if w[-1] != "y" else "e")
            if new.lower() != w.lower() and len(new) >= 2:
                words[i] = new
                break
    out = " ".join(words)
    return out if out.lower() != text.lower() else text + "s"


def _price_bound(price: float) -> int:
    for step in (10, 25, 50, 100, 250, 500):
        if price <= step * 8:
            return int(np.ceil(price / step) * step)
    return int(np.ceil(price / 1000) * 1000)


def _str(value: object) -> str | None:
    """Missing catalog strings come back as NaN from pandas; treat them as absent."""
    return value if isinstance(value, str) else None


def _noun(rng: np.random.Generator, t: vocab.ProductType) -> str:
    return t.nouns[int(rng.integers(len(t.nouns)))]


class LabelledQueryBuilder:
    """Draws queries of every kind from real products so each has at least one exact match."""

    def __init__(self, products: pd.DataFrame, rng: np.random.Generator) -> None:
        self.products = products
        self.cv = CatalogView(products)
        self.rng = rng
        self.brand_sizes = products["brand"].value_counts().to_dict()

    def _product(self) -> pd.Series:
        return self.products.iloc[int(self.rng.integers(len(self.products)))]

    def category(self) -> tuple[str, QuerySpec, str]:
        ti = int(self.rng.integers(len(vocab.TYPES)))
        return _noun(self.rng, vocab.TYPES[ti]), QuerySpec(types=frozenset([ti])), "en"

    def brand(self) -> tuple[str, QuerySpec, str]:
        p = self._product()
        t = vocab.TYPES[p.type_idx]
        b = p.brand if self.rng.random() < 0.6 else p.brand.lower()
        if self.brand_sizes[p.brand] <= 50 and self.rng.random() < 0.3:
            return b, QuerySpec(brand=p.brand), "en"
        noun = _noun(self.rng, t)
        text = f"{b} {noun}" if self.rng.random() < 0.8 else f"{noun} {b}"
        return text, QuerySpec(types=frozenset([p.type_idx]), brand=p.brand), "en"

    def attribute(self) -> tuple[str, QuerySpec, str]:
        rng = self.rng
        p = self._product()
        t = vocab.TYPES[p.type_idx]
        options = [
            k
            for k in ("color", "size", "target", "material", "price")
            if (k == "price")
            or (k == "target" and p.target != "unisex")
            or (k not in ("price", "target") and _str(p[k]))
        ]
        picked = set(
            rng.choice(options, size=min(len(options), int(rng.integers(1, 4))), replace=False).tolist()
        )
        if picked == {"price"} and len(options) > 1:
            picked.add(options[0])
        noun = _noun(rng, t)
        words = []
        if "target" in picked:
            words.append(vocab.TARGET_EN[p.target][int(rng.integers(2))])
        if "color" in picked:
            words.append(p.color)
        if "material" in picked:
            words.append(p.material.lower())
        words.append(noun)
        if "size" in picked:
            words.append(
                f"size {p['size']}" if t.sizes in ("shoes", "apparel", "waist", "ball") else p["size"]
            )
        bound = None
        if "price" in picked:
            bound = _price_bound(float(p.price))
            words.append(f"{('under', 'below', 'less than')[int(rng.integers(3))]} {bound}")
        if "target" in picked and rng.random() < 0.3:
            words = words[1:] + [vocab.TARGET_EN[p.target][2]]
        spec = QuerySpec(
            types=frozenset([p.type_idx]),
            color=_str(p.color) if "color" in picked else None,
            size=_str(p["size"]) if "size" in picked else None,
            target=p.target if "target" in picked else None,
            material=_str(p.material) if "material" in picked else None,
            max_price=float(bound) if bound else None,
        )
        return " ".join(words), spec, "en"

    def product(self) -> tuple[str, QuerySpec, str]:
        p = self._product()
        forms = (
            f"{p.brand} {p.model} {p.noun}",
            f"{p.model} {p.noun}",
            f"{p.brand.lower()} {p.model.lower()} {p.noun}",
            f"{p.noun} {p.brand} {p.model}",
        )
        text = forms[int(self.rng.integers(len(forms)))]
        return text, QuerySpec(types=frozenset([p.type_idx]), family=int(p.family_id)), "en"

    def intent(self) -> tuple[str, QuerySpec, str]:
        rng = self.rng
        if rng.random() < 0.18:
            template, target = GIFT_INTENTS[int(rng.integers(len(GIFT_INTENTS)))]
            bound = int(rng.choice([30, 50, 75, 100]))
            return (
                template.format(b=bound),
                QuerySpec(giftable=True, target=target, max_price=float(bound)),
                "en",
            )
        p = self._product()
        t = vocab.TYPES[p.type_idx]
        key = p.features[int(rng.integers(len(p.features)))]
        feat = next(f for f in t.features if f.key == key)
        text = feat.intents[int(rng.integers(len(feat.intents)))]
        bound = None
        if rng.random() < 0.25:
            bound = _price_bound(float(p.price))
            text = f"{text} under {bound}"
        return text, QuerySpec(types=frozenset([p.type_idx]), feature=key, max_price=bound), "en"

    def misspelling(self) -> tuple[str, QuerySpec, str]:
        r = self.rng.random()
        base = (
            self.category
            if r < 0.35
            else self.brand
            if r < 0.6
            else self.attribute
            if r < 0.85
            else self.product
        )
        text, spec, lang = base()
        return misspell(text, self.rng), spec, lang

    def multilingual(self) -> tuple[str, QuerySpec, str]:
        rng = self.rng
        p = self._product()
        t = vocab.TYPES[p.type_idx]
        lang = "pt" if rng.random() < 0.5 else "hi"
        mode = int(rng.integers(3))
        types = frozenset([p.type_idx])
        if mode == 0 and _str(p.color):
            if lang == "pt":
                return f"{t.pt} {vocab.COLOR_PT[p.color]}", QuerySpec(types=types, color=p.color), lang
            return f"{vocab.COLOR_HI[p.color]} {t.hi}", QuerySpec(types=types, color=p.color), lang
        if mode == 1 and p.target != "unisex":
            if lang == "pt":
                return f"{t.pt} {vocab.TARGET_PT[p.target]}", QuerySpec(types=types, target=p.target), lang
            return f"{vocab.TARGET_HI[p.target]} {t.hi}", QuerySpec(types=types, target=p.target), lang
        if mode == 2:
            return f"{t.pt if lang == 'pt' else t.hi} {p.brand}", QuerySpec(types=types, brand=p.brand), lang
        return (t.pt if lang == "pt" else t.hi), QuerySpec(types=types), lang

    def bengali(self) -> tuple[str, QuerySpec, str]:
        """A Bengali shopper: the type's Bengali name with a recipient or a brand (never a form the
        logs use, "colour name" or the bare name: a labelled query is never a logged one)."""
        rng = self.rng
        p = self._product()
        name = vocab.TYPE_BN[vocab.TYPES[p.type_idx].path]
        types = frozenset([p.type_idx])
        if rng.random() < 0.5 and p.target in vocab.TARGET_BN:
            return f"{vocab.TARGET_BN[p.target]} {name}", QuerySpec(types=types, target=p.target), "bn"
        return f"{p.brand} {name}", QuerySpec(types=types, brand=p.brand), "bn"


DEFAULT_KIND_COUNTS = {
    "category": 45,
    "brand": 45,
    "attribute": 60,
    "product": 45,
    "intent": 70,
    "misspelling": 50,
    "multilingual": 75,
    "bengali": 30,  # last: the queries before it are drawn exactly as before it existed
}


def build_labelled_queries(
    products: pd.DataFrame,
    rng: np.random.Generator,
    kind_counts: dict[str, int] | None = None,
    max_judged: int = 50,
    n_irrelevant: int = 5,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(queries, judgments, specs): the labelled set and the structured spec behind each query."""
    builder = LabelledQueryBuilder(products, rng)
    kind_counts = kind_counts or DEFAULT_KIND_COUNTS
    skus = products["sku"].to_numpy()
    tops = builder.cv.top
    q_rows, j_rows, s_rows = [], [], []
    seen: set[str] = set()
    for kind, target_count in kind_counts.items():
        made, tries = 0, 0
        while made < target_count and tries < target_count * 50:
            tries += 1
            text, spec, lang = getattr(builder, kind)()
            text = " ".join(text.split())
            if text.lower() in seen:
                continue
            labels = label_products(spec, builder.cv)
            exact = np.flatnonzero(labels == 2)
            if len(exact) == 0:
                continue
            seen.add(text.lower())
            qid = f"Q{len(q_rows) + 1:04d}"
            q_rows.append(
                dict(
                    query_id=qid,
                    query=text,
                    language=lang,
                    kind="multilingual" if kind in ("multilingual", "bengali") else kind,
                )
            )
            partial = np.flatnonzero(labels == 1)
            take_exact = rng.choice(
                exact, size=min(len(exact), max_judged - min(5, len(partial))), replace=False
            )
            take_partial = rng.choice(
                partial, size=min(len(partial), max_judged - len(take_exact)), replace=False
            )
            spec_tops = set(tops[exact])
            irrelevant = np.flatnonzero((labels == 0) & ~np.isin(tops, list(spec_tops)))
            q_tokens = set(text.lower().split())
            probe = (
                rng.choice(irrelevant, size=min(len(irrelevant), 300), replace=False)
                if len(irrelevant)
                else []
            )
            hard = [i for i in probe if builder.cv.title_tokens[i] & q_tokens]
            pool = np.array(hard if len(hard) >= n_irrelevant else irrelevant)
            take_irr = rng.choice(pool, size=min(n_irrelevant, len(pool)), replace=False) if len(pool) else []
            for idx, label in ((take_exact, "exact"), (take_partial, "partial"), (take_irr, "irrelevant")):
                for i in sorted(int(x) for x in idx):
                    j_rows.append(dict(query_id=qid, sku=skus[i], label=label, gain=WANDS_GAIN[label]))
            s_rows.append(
                dict(
                    query_id=qid,
                    types="|".join(vocab.TYPES[t].path for t in sorted(spec.types or ())),
                    color=spec.color,
                    size=spec.size,
                    target=spec.target,
                    material=spec.material,
                    brand=spec.brand,
                    family=spec.family,
                    feature=spec.feature,
                    max_price=spec.max_price,
                    giftable=spec.giftable,
                    n_exact=int(len(exact)),
                    n_partial=int(len(partial)),
                )
            )
            made += 1
    return pd.DataFrame(q_rows), pd.DataFrame(j_rows), pd.DataFrame(s_rows)


def log_query(p: pd.Series, country: str, rng: np.random.Generator, labelled: set[str]) -> str:
    """What a shopper who ends up clicking product ``p`` typed; avoids the labelled test strings."""
    t = vocab.TYPES[p.type_idx]
    bengali: str | None = None
    for _ in range(4):
        bengali = None
        r = rng.random()
        noun = _noun(rng, t)
        if country in ("BR", "IN") and r < 0.08:
            if country == "BR":
                text = f"{t.pt} {vocab.COLOR_PT[p.color]}" if _str(p.color) and rng.random() < 0.5 else t.pt
            else:
                coloured = _str(p.color) and rng.random() < 0.5
                text = f"{vocab.COLOR_HI[p.color]} {t.hi}" if coloured else t.hi
                if vocab.speaks_bengali(p.brand, p.model):
                    # the same choice, written in Bengali: drawn (and checked against the labelled
                    # set) as the Hindi query, so adding Bengali shoppers changed no other draw
                    name = vocab.TYPE_BN[t.path]
                    bengali = f"{vocab.COLOR_BN[p.color]} {name}" if coloured else name
        elif r < 0.3:
            text = noun
        elif r < 0.45:
            text = f"{p.brand.lower()} {noun}"
        elif r < 0.57 and _str(p.color):
            text = f"{p.color} {noun}"
        elif r < 0.64 and p.target != "unisex":
            text = f"{vocab.TARGET_EN[p.target][int(rng.integers(3))]} {noun}"
        elif r < 0.78:
            key = p.features[int(rng.integers(len(p.features)))]
            feat = next(f for f in t.features if f.key == key)
            text = feat.intents[int(rng.integers(len(feat.intents)))]
            if rng.random() < 0.5:
                text = f"{feat.adjective.lower()} {noun}"
        elif r < 0.88:
            text = f"{p.model.lower()} {noun}" if rng.random() < 0.5 else f"{p.brand} {p.model}"
        else:
            text = misspell(f"{p.brand.lower()} {noun}" if rng.random() < 0.4 else noun, rng)
        if rng.random() < 0.35:
            prefix = LOG_PREFIXES[int(rng.integers(len(LOG_PREFIXES)))]
            suffix = LOG_SUFFIXES[int(rng.integers(len(LOG_SUFFIXES)))]
            text = prefix + text + suffix
            bengali = prefix + bengali + suffix if bengali else None
        if text.lower() not in labelled:
            return bengali or text
    return bengali or text
