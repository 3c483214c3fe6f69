"""The product catalog, stores and store inventory of the sample retailer.

Products come in model families (one model in several colours), carry hidden ``features`` that
their descriptions put into words, and a latent ``style`` and ``popularity`` that the simulated
shoppers respond to. Those hidden columns never reach ``products.parquet``; judgments and behaviour
read them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from training.sample import vocab
from training.sample.vocab import ProductType

STYLE_DIM = 4

OPENERS = (
    "The {brand} {model} {noun} is built for {use}.",
    "Meet the {model}: {brand}'s {adj} take on the {noun}, made for {use}.",
    "Designed for {use}, this {noun} from {brand} keeps things simple.",
    "Whether it's {use} or {use2}, the {model} has you covered.",
    "{brand} made the {model} for anyone who wants a dependable {noun} for {use}.",
    "Our {adj} {noun} for {use}, from {brand}.",
    "A {adj} {noun} that feels at home in {use} and {use2}.",
    "From {use} to {use2}, the {brand} {model} is an easy pick.",
    "Need a {noun} for {use}? Start with the {model}.",
    "The {model} {noun} brings {brand} quality to {use}.",
    "Shoppers pick the {model} for {use} again and again.",
    "{brand}'s best-selling line returns: the {model} {noun}, refined for {use}.",
)
FEATURE_LEADS = ("", "", "", "Plus, ", "Best of all, ", "On top of that, ", "What stands out: ")
MATERIAL_SENTENCES = (
    "Made of {material} in {color}.",
    "The {color} {material} finish looks good and lasts.",
    "Crafted from durable {material}.",
    "This one comes in {color}.",
    "{Material} construction, finished in {color}.",
)
TARGET_SENTENCES = {
    "men": ("Cut for men.", "Sized and styled for men."),
    "women": ("Designed for women.", "A women's fit."),
    "kids": ("Sized for kids.", "Made for little ones."),
    "unisex": ("Unisex styling.", ""),
}
USE_SENTENCES = (
    "Great for {use} and {use2}.",
    "Also handy for {use2}.",
    "Customers love it for {use2}.",
    "It is just as good for {use2}.",
)
CLOSERS = (
    "Backed by a {n}-year warranty.",
    "Free returns within 30 days.",
    "Easy to clean and care for.",
    "Ships in recyclable packaging.",
    "Rated {r} out of 5 by shoppers.",
    "",
)


@dataclass
class Catalog:
    """The catalog table plus the hidden product state the simulation and judgments use."""

    products: pd.DataFrame  # import-format columns + hidden: type_idx, top, features, family_id, model, ...
    style: np.ndarray  # (n_products, STYLE_DIM)
    stores: pd.DataFrame
    inventory: pd.DataFrame


def _title_case(text: str) -> str:
    return " ".join(w if w[:1].isupper() else w[:1].upper() + w[1:] for w in text.split())


def _sizes_for(t: ProductType, target: str) -> tuple[str, ...]:
    if not t.sizes:
        return ()
    table = vocab.SIZES[t.sizes]
    return table.get(target, table["*"])


def _choice(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))]


def _round_price(x: float) -> float:
    if x < 10:
        return round(max(round(x, 1) - 0.01, 0.99), 2)
    return round(float(np.floor(x)) + 0.99 if x < 100 else float(np.round(x / 5) * 5) - 0.01, 2)


def _title(
    rng: np.random.Generator,
    t: ProductType,
    brand: str,
    model: str,
    adj: str,
    noun: str,
    target: str,
    material: str | None,
    color: str | None,
    size: str | None,
) -> str:
    noun_t = _title_case(noun)
    color_t = color.title() if color else ""
    target_w = {"men": "Men's", "women": "Women's", "kids": "Kids'"}.get(target, "")
    patterns = [
        f"{brand} {model} {adj} {noun_t}",
        f"{brand} {noun_t} {model}" + (f" - {color_t}" if color_t else ""),
        f"{target_w} {adj} {noun_t} {brand} {model}".strip(),
        f"{adj} {material.title() if material else ''} {noun_t} by {brand} ({model})".replace("  ", " "),
        f"{brand} {model} {noun_t}" + "".join(f", {x}" for x in (size, color_t) if x),
        f"{noun_t} {model} {adj} | {brand}",
    ]
    return _choice(rng, patterns)


def _description(
    rng: np.random.Generator,
    t: ProductType,
    brand: str,
    model: str,
    adj: str,
    noun: str,
    features: tuple[str, ...],
    target: str,
    material: str | None,
    color: str | None,
    size: str | None,
) -> str:
    uses = list(t.uses) or ["everyday use"]
    rng.shuffle(uses)
    use, use2 = uses[0], uses[1 % len(uses)]
    parts = [
        _choice(rng, OPENERS).format(brand=brand, model=model, noun=noun, adj=adj.lower(), use=use, use2=use2)
    ]
    feats = {f.key: f for f in t.features}
    for key in features:
        lead = _choice(rng, FEATURE_LEADS)
        sentence = feats[key].sentence
        first = sentence.split()[0]
        lower_ok = lead and (first == "A" or first[1:].islower())
        parts.append(lead + (sentence[0].lower() + sentence[1:] if lower_ok else sentence))
    if material or color:
        tpl = _choice(rng, MATERIAL_SENTENCES)
        if not material:
            tpl = "This one comes in {color}."
        elif not color:
            tpl = "Crafted from durable {material}."
        parts.append(tpl.format(material=material, Material=(material or "").capitalize(), color=color))
    target_sentence = _choice(rng, TARGET_SENTENCES.get(target, ("",)))
    if target_sentence and (t.colors or target != "unisex"):
        parts.append(target_sentence)
    if rng.random() < 0.7:
        parts.append(_choice(rng, USE_SENTENCES).format(use=use, use2=use2))
    if size and t.replenishment_days:
        parts.append(f"{size} pack; most households reorder about every {int(t.replenishment_days)} days.")
    elif size:
        parts.append(f"Size: {size}.")
    closer = _choice(rng, CLOSERS).format(n=int(rng.integers(1, 4)), r=round(float(rng.uniform(3.9, 4.9)), 1))
    if closer:
        parts.append(closer)
    return " ".join(parts)


def build_catalog(n_products: int, rng: np.random.Generator, start: datetime, end: datetime) -> Catalog:
    """A catalog of ``n_products`` skus over every product type in ``vocab.TYPES``."""
    types = vocab.TYPES
    if n_products < 4 * len(types):
        raise ValueError(
            f"--products must be at least {4 * len(types)} (4 per product type), got {n_products}"
        )
    weights = rng.lognormal(0.0, 0.25, len(types))
    counts = np.maximum(4, np.floor(weights / weights.sum() * n_products)).astype(int)
    while counts.sum() < n_products:
        counts[int(rng.integers(len(types)))] += 1
    while counts.sum() > n_products:
        i = int(np.argmax(counts))
        counts[i] -= 1

    rows: list[dict] = []
    titles: set[str] = set()
    family_id = 0
    for ti, t in enumerate(types):
        brands = [b for b in vocab.BRANDS if t.top in b[2]]
        brand_w = rng.dirichlet(np.ones(len(brands)) * 2.0)
        used_models: set[tuple[str, str]] = set()
        made = 0
        while made < counts[ti]:
            b_name, tier, _ = brands[int(rng.choice(len(brands), p=brand_w))]
            model = _choice(rng, vocab.MODEL_STEMS) + _choice(rng, vocab.MODEL_SUFFIXES)
            if (b_name, model) in used_models:
                continue
            used_models.add((b_name, model))
            target = _choice(rng, t.targets)
            material = _choice(rng, t.materials) if t.materials else None
            n_feat = 1 if len(t.features) == 1 or rng.random() < 0.6 else 2
            feat_idx = sorted(rng.choice(len(t.features), size=n_feat, replace=False).tolist())
            features = tuple(t.features[i].key for i in feat_idx)
            adj = (
                t.features[feat_idx[0]].adjective
                if rng.random() < 0.7
                else _choice(rng, vocab.GENERIC_ADJECTIVES)
            )
            noun = _choice(rng, t.nouns)
            base_price = t.price * tier * float(rng.lognormal(0.0, t.sigma))
            popularity = float(rng.normal(0.0, 1.0))
            style = rng.normal(0.0, 1.0, STYLE_DIM)
            n_var = int(min(counts[ti] - made, rng.choice([1, 1, 2, 2, 3, 4])))
            colors = list(rng.permutation(t.colors)[:n_var]) if t.colors else [None] * n_var
            sizes = _sizes_for(t, target)
            while len(colors) < n_var:
                colors.append(colors[-1])
            for v in range(n_var):
                color = colors[v]
                size = _choice(rng, sizes) if sizes else None
                price_mult = 1.0
                if sizes and t.replenishment_days:
                    price_mult = 1.0 + 0.6 * sizes.index(size)
                title = _title(rng, t, b_name, model, adj, noun, target, material, color, size)
                if n_var > 1 and color and color.title() not in title:
                    title = f"{title} - {color.title()}"
                k = 2
                while title in titles:
                    extra = size if (size and size not in title) else f"Edition {k}"
                    title = f"{title} {extra}"
                    k += 1
                titles.add(title)
                price = _round_price(base_price * price_mult * float(rng.lognormal(0.0, 0.05)))
                discounted = rng.random() < 0.3
                list_price = _round_price(price / (1 - rng.uniform(0.1, 0.4))) if discounted else price
                list_price = max(list_price, price)
                r = rng.random()
                store_ok, web_ok = (True, False) if r < 0.07 else (False, True) if r < 0.15 else (True, True)
                rows.append(
                    dict(
                        title=title,
                        description=_description(
                            rng, t, b_name, model, adj, noun, features, target, material, color, size
                        ),
                        brand=b_name,
                        category=t.path,
                        color=color,
                        size=size,
                        material=material,
                        target=target,
                        price=price,
                        list_price=list_price,
                        available_store=store_ok,
                        available_web=web_ok,
                        available_app=web_ok and rng.random() < 0.95,
                        available_marketplace=bool(rng.random() < 0.3),
                        replenishment_days=t.replenishment_days,
                        type_idx=ti,
                        top=t.top,
                        features=features,
                        family_id=family_id,
                        model=model,
                        noun=noun,
                        popularity=popularity + float(rng.normal(0, 0.3)),
                        style=style + rng.normal(0, 0.3, STYLE_DIM),
                    )
                )
                made += 1
            family_id += 1

    df = pd.DataFrame(rows)
    n = len(df)
    sku_numbers = rng.choice(900_000, size=n, replace=False) + 100_000
    df.insert(0, "sku", [f"SKU-{x}" for x in sku_numbers])
    is_new = rng.random(n) < 0.03
    old_offsets = rng.uniform(7 * 86400, 700 * 86400, n)
    new_offsets = rng.uniform(0, 14 * 86400, n)
    created = [
        (end - timedelta(seconds=float(o))) if new else (start - timedelta(seconds=float(old)))
        for new, o, old in zip(is_new, new_offsets, old_offsets, strict=True)
    ]
    df["created_at"] = pd.to_datetime(created, utc=True).floor("s")
    df["is_new"] = is_new
    # Half the catalog also carries its name in Bengali, as a Bangladeshi retailer's would.
    df["title_bn"] = [
        f"{brand} {vocab.COLOR_BN.get(color, '') if isinstance(color, str) else ''} {vocab.TYPE_BN[path]}".replace(
            "  ", " "
        )
        if number % 2 == 0
        else None
        for brand, color, path, number in zip(
            df["brand"], df["color"], df["category"], sku_numbers, strict=True
        )
    ]
    style = np.stack(df.pop("style").to_list())
    stores = pd.DataFrame(vocab.STORES, columns=["store_id", "name", "city", "country"])
    inventory = _inventory(df, stores, rng)
    return Catalog(products=df, style=style, stores=stores, inventory=inventory)


def _inventory(products: pd.DataFrame, stores: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Each store carries most store-available skus; some carried skus are out of stock."""
    frames = []
    sellable = products["available_store"].to_numpy()
    for store_id in stores["store_id"]:
        carried = sellable & (rng.random(len(products)) < 0.72)
        stock = rng.negative_binomial(2, 0.12, len(products)) + 1
        stock[rng.random(len(products)) < 0.12] = 0
        frames.append(
            pd.DataFrame({"store_id": store_id, "sku": products["sku"][carried], "stock": stock[carried]})
        )
    return pd.concat(frames, ignore_index=True)
