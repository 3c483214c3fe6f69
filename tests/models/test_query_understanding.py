"""Query understanding on a small multi-category catalog: real fitting, real regexes, real classifier."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from models.query import (
    CategoryClassifier,
    ParsedQuery,
    QueryParser,
    QueryUnderstanding,
    SpellCorrector,
    SynonymSet,
)

_ROWS = [
    # sku, title, description, brand, category, color, size, material, target, price
    (
        "F1",
        "Nike Air Zoom Pegasus Running Shoes",
        "Responsive cushioning for daily road running.",
        "Nike",
        "Footwear > Running Shoes",
        "Red",
        "42",
        "Mesh",
        "men",
        120.0,
    ),
    (
        "F2",
        "Nike Revolution Running Shoes",
        "Lightweight running shoe for beginners.",
        "Nike",
        "Footwear > Running Shoes",
        "Black",
        "40",
        "Mesh",
        "women",
        65.0,
    ),
    (
        "F3",
        "Adidas Ultraboost Running Shoes",
        "Energy returning boost foam running shoes.",
        "Adidas",
        "Footwear > Running Shoes",
        "White",
        "44",
        "Knit",
        "men",
        180.0,
    ),
    (
        "F4",
        "Adidas Duramo Kids Running Shoes",
        "Durable running sneakers for children.",
        "Adidas",
        "Footwear > Running Shoes",
        "Blue",
        "32",
        "Mesh",
        "kids",
        45.0,
    ),
    (
        "F5",
        "Puma Leather Chelsea Boots",
        "Classic leather boots with elastic sides.",
        "Puma",
        "Footwear > Boots",
        "Brown",
        "43",
        "Leather",
        "men",
        140.0,
    ),
    (
        "F6",
        "Timberland Waterproof Hiking Boots",
        "Waterproof boots for hiking trails.",
        "Timberland",
        "Footwear > Boots",
        "Brown",
        "41",
        "Leather",
        "women",
        160.0,
    ),
    (
        "F7",
        "Havaianas Flip Flops",
        "Rubber sandals for the beach.",
        "Havaianas",
        "Footwear > Sandals",
        "Yellow",
        "38",
        "Rubber",
        "unisex",
        25.0,
    ),
    (
        "F8",
        "Birkenstock Arizona Sandals",
        "Cork footbed sandals with two straps.",
        "Birkenstock",
        "Footwear > Sandals",
        "Black",
        "39",
        "Leather",
        "women",
        99.0,
    ),
    (
        "E1",
        "Samsung Galaxy S24 Smartphone 128GB",
        "Android phone with a bright AMOLED display and great camera.",
        "Samsung",
        "Electronics > Phones",
        "Black",
        "128GB",
        "Glass",
        "unisex",
        799.0,
    ),
    (
        "E2",
        "Apple iPhone 15 Smartphone",
        "Smartphone with A16 chip and dual camera.",
        "Apple",
        "Electronics > Phones",
        "Blue",
        "128GB",
        "Aluminium",
        "unisex",
        899.0,
    ),
    (
        "E3",
        "Samsung 55 inch 4K Smart Television",
        "Crystal UHD smart TV with HDR.",
        "Samsung",
        "Electronics > Televisions",
        "Black",
        "55 inch",
        "Plastic",
        "unisex",
        549.0,
    ),
    (
        "E4",
        "LG 65 inch OLED Television",
        "OLED TV with perfect blacks for movies.",
        "LG",
        "Electronics > Televisions",
        "Black",
        "65 inch",
        "Plastic",
        "unisex",
        1499.0,
    ),
    (
        "E5",
        "Sony Wireless Noise Cancelling Headphones",
        "Over-ear headphones with noise cancelling and long battery.",
        "Sony",
        "Electronics > Headphones",
        "Black",
        "One Size",
        "Plastic",
        "unisex",
        299.0,
    ),
    (
        "E6",
        "JBL Bluetooth Earbuds",
        "Wireless earbuds with charging case for music on the go.",
        "JBL",
        "Electronics > Headphones",
        "White",
        "One Size",
        "Plastic",
        "unisex",
        79.0,
    ),
    (
        "E7",
        "Samsung Galaxy Watch Smartwatch",
        "Fitness tracking smartwatch with heart rate monitor.",
        "Samsung",
        "Electronics > Wearables",
        "Silver",
        "44mm",
        "Aluminium",
        "unisex",
        299.0,
    ),
    (
        "H1",
        "Stanley Insulated Tumbler 40oz",
        "Vacuum insulated tumbler keeps coffee hot for hours and drinks cold.",
        "Stanley",
        "Home & Kitchen > Drinkware",
        "Green",
        "40oz",
        "Stainless Steel",
        "unisex",
        45.0,
    ),
    (
        "H2",
        "Thermos Stainless Steel Vacuum Flask",
        "Keeps coffee and tea hot for 24 hours; leak-proof travel flask.",
        "Thermos",
        "Home & Kitchen > Drinkware",
        "Silver",
        "1L",
        "Stainless Steel",
        "unisex",
        35.0,
    ),
    (
        "H3",
        "Ceramic Coffee Mug Set",
        "Set of four ceramic mugs for coffee and tea.",
        "Tramontina",
        "Home & Kitchen > Drinkware",
        "White",
        "350ml",
        "Ceramic",
        "unisex",
        22.0,
    ),
    (
        "H4",
        "Tramontina Non-Stick Frying Pan",
        "Non-stick frying pan for eggs and pancakes.",
        "Tramontina",
        "Home & Kitchen > Cookware",
        "Red",
        "24cm",
        "Aluminium",
        "unisex",
        39.0,
    ),
    (
        "H5",
        "Le Creuset Cast Iron Dutch Oven",
        "Cast iron pot for slow cooking stews and baking bread.",
        "Le Creuset",
        "Home & Kitchen > Cookware",
        "Orange",
        "26cm",
        "Cast Iron",
        "unisex",
        350.0,
    ),
    (
        "H6",
        "Philips Espresso Coffee Machine",
        "Automatic espresso machine that grinds beans and brews coffee.",
        "Philips",
        "Home & Kitchen > Appliances",
        "Black",
        "One Size",
        "Plastic",
        "unisex",
        499.0,
    ),
    (
        "H7",
        "Oster Blender 600W",
        "Powerful blender for smoothies and soups.",
        "Oster",
        "Home & Kitchen > Appliances",
        "Black",
        "One Size",
        "Glass",
        "unisex",
        59.0,
    ),
    (
        "A1",
        "Nike Dri-FIT Running T-Shirt",
        "Breathable sweat-wicking shirt for training.",
        "Nike",
        "Apparel > T-Shirts",
        "Red",
        "M",
        "Polyester",
        "men",
        30.0,
    ),
    (
        "A2",
        "Adidas Essentials Cotton T-Shirt",
        "Soft cotton tee with logo.",
        "Adidas",
        "Apparel > T-Shirts",
        "White",
        "S",
        "Cotton",
        "women",
        25.0,
    ),
    (
        "A3",
        "Levi's 501 Original Jeans",
        "Straight fit denim jeans.",
        "Levi's",
        "Apparel > Jeans",
        "Blue",
        "L",
        "Denim",
        "men",
        89.0,
    ),
    (
        "A4",
        "Levi's Skinny Jeans",
        "Skinny fit stretch denim jeans.",
        "Levi's",
        "Apparel > Jeans",
        "Black",
        "XS",
        "Denim",
        "women",
        79.0,
    ),
    (
        "A5",
        "Under Armour Hooded Sweatshirt",
        "Warm fleece hoodie for cold days.",
        "Under Armour",
        "Apparel > Hoodies",
        "Grey",
        "XL",
        "Fleece",
        "men",
        55.0,
    ),
    (
        "A6",
        "Zara Kids Hoodie",
        "Cosy hoodie for kids with a kangaroo pocket.",
        "Zara",
        "Apparel > Hoodies",
        "Pink",
        "XXL",
        "Cotton",
        "kids",
        29.0,
    ),
    (
        "A7",
        "Black & Decker Cordless Drill",
        "Cordless drill driver with two batteries.",
        "Black & Decker",
        "Tools > Power Tools",
        "Orange",
        "One Size",
        "Plastic",
        "unisex",
        89.0,
    ),
]
COLUMNS = ["sku", "title", "description", "brand", "category", "color", "size", "material", "target", "price"]


@pytest.fixture(scope="module")
def catalog() -> pd.DataFrame:
    return pd.DataFrame(_ROWS, columns=COLUMNS)


@pytest.fixture(scope="module")
def qu(catalog: pd.DataFrame) -> QueryUnderstanding:
    clicks = [
        ("tv", "Electronics > Televisions"),
        ("celular", "Electronics > Phones"),
        ("tenis", "Footwear > Running Shoes"),
    ]
    synonyms = SynonymSet(two_way=[["tv", "television"]], one_way={"sneakers": ["running shoes"]})
    return QueryUnderstanding(category_threshold=0.3, synonyms=synonyms).fit(
        catalog, query_log=["nike shoes", "tv"] * 3, query_categories=clicks
    )


@pytest.fixture(scope="module")
def parser(qu: QueryUnderstanding) -> QueryParser:
    return qu.parser_


# --- price ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "price_min", "price_max", "text"),
    [
        ("running shoes under 50", None, 50.0, "running shoes"),
        ("headphones below $50", None, 50.0, "headphones"),
        ("blender less than 50", None, 50.0, "blender"),
        ("mug up to 50", None, 50.0, "mug"),
        ("jeans between 20 and 40", 20.0, 40.0, "jeans"),
        ("hoodie 20-40", 20.0, 40.0, "hoodie"),
        ("television over 100", 100.0, None, "television"),
        ("tenis abaixo de R$ 200", None, 200.0, "tenis"),
        ("tenis até 200 reais", None, 200.0, "tenis"),
        ("caneca entre 20 e 40", 20.0, 40.0, "caneca"),
        ("fone menos de 100", None, 100.0, "fone"),
        ("sofá acima de 1.500", 1500.0, None, "sofa"),
        ("जूते 500 से कम", None, 500.0, "जूते"),
        ("₹500 के अंदर घड़ी", None, 500.0, "घडी"),
        ("1000 से 2000 के बीच फोन", 1000.0, 2000.0, "फोन"),
        ("cheap blender", None, None, "blender"),
        # measures, not prices
        ("shower head 5-1/2 in. chrome", None, None, "shower head 5-1/2 in. chrome"),
        ("pvc pipe 2-3 ft", None, None, "pvc pipe 2-3 ft"),
        ("lantern 60 a 100", 60.0, 100.0, "lantern"),
        ("jeans 20 to 40", 20.0, 40.0, "jeans"),
        # a model code that happens to hold "a" or "to" between digits is not a price range
        ("lantern 60a44921", None, None, "lantern 60a44921"),
        ("filter 30to40x", None, None, "filter 30to40x"),
    ],
)
def test_price_phrases(parser: QueryParser, query: str, price_min, price_max, text: str) -> None:
    parsed = parser.parse(query)
    assert (parsed.price_min, parsed.price_max) == (price_min, price_max)
    assert parsed.text == text


def test_cheap_is_a_hint_not_a_bound(parser: QueryParser) -> None:
    parsed = parser.parse("cheap blender")
    assert parsed.price_hint == "low"
    assert parser.parse("sapato barato").price_hint == "low"
    assert parser.parse("premium headphones").price_hint == "high"


# --- attributes -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "colors"),
    [
        ("red running shoes", ["Red"]),
        ("tênis vermelho", ["Red"]),
        ("camiseta preta", ["Black"]),
        ("लाल जूते", ["Red"]),
        ("सफ़ेद टी-शर्ट", ["White"]),
        ("grey hoodie", ["Grey"]),
        ("gray hoodie", ["Grey"]),
        ("running shoes", []),
    ],
)
def test_colours_map_to_catalog_values(parser: QueryParser, query: str, colors: list[str]) -> None:
    assert parser.parse(query).colors == colors


def test_colour_word_is_translated_in_text(parser: QueryParser) -> None:
    # The retrieval text uses the catalog's colour word so an English catalog still matches.
    assert parser.parse("tênis vermelho").text == "tenis red"


@pytest.mark.parametrize(
    ("query", "sizes", "text"),
    [
        ("size 42 boots", ["42"], "boots"),
        ("bota tamanho 42", ["42"], "bota"),
        ("shirt size M", ["M"], "shirt"),
        ("xl hoodie", ["XL"], "xl hoodie"),
        ("samsung phone 128gb", ["128GB"], "samsung phone 128gb"),
    ],
)
def test_sizes(parser: QueryParser, query: str, sizes: list[str], text: str) -> None:
    parsed = parser.parse(query)
    assert parsed.sizes == sizes
    assert parsed.text == text


def test_brands_exact_fuzzy_and_multiword(parser: QueryParser) -> None:
    assert parser.parse("nike running shoes").brands == ["Nike"]
    assert parser.parse("NIKE and adidas").brands == ["Nike", "Adidas"]
    assert parser.parse("underarmour hoodie").brands == ["Under Armour"]
    assert parser.parse("samsang tv").brands == ["Samsung"]  # typo fixed by the speller first
    # A colour inside a brand name is not a colour.
    parsed = parser.parse("black & decker drill")
    assert parsed.brands == ["Black & Decker"]
    assert parsed.colors == []


@pytest.mark.parametrize(
    ("query", "target", "text"),
    [
        ("running shoes for dad", "men", "running shoes"),
        ("hoodie for him", "men", "hoodie"),
        ("men's jeans", "men", "jeans"),
        ("tenis para homem", "men", "tenis"),
        ("presente para o pai", "men", ""),
        ("boots for mom", "women", "boots"),
        ("women's jeans", "women", "jeans"),
        ("camiseta feminina", "women", "camiseta"),
        ("presente para mãe", "women", ""),
        ("hoodie for kids", "kids", "hoodie"),
        ("tenis infantil", "kids", "tenis"),
        ("बच्चों के लिए जूते", "kids", "जूते"),
        ("iron man figure", None, "iron man figure"),  # bare "man" needs "for"
    ],
)
def test_target(parser: QueryParser, query: str, target: str | None, text: str) -> None:
    parsed = parser.parse(query)
    assert parsed.target == target
    assert parsed.text == text


@pytest.mark.parametrize(
    ("query", "is_gift"),
    [
        ("gift for dad", True),
        ("birthday present for mom", True),
        ("presente de natal", True),
        ("उपहार", True),
        ("running shoes", False),
    ],
)
def test_gift(parser: QueryParser, query: str, is_gift: bool) -> None:
    parsed = parser.parse(query)
    assert parsed.is_gift is is_gift
    if is_gift:
        assert "gift" not in parsed.text and "present" not in parsed.text


def test_combined_query_text_and_explain(qu: QueryUnderstanding) -> None:
    parsed = qu.parse("red nike running shoes for dad under 50")
    assert parsed.text == "red nike running shoes"
    assert (parsed.colors, parsed.brands, parsed.target, parsed.price_max) == (["Red"], ["Nike"], "men", 50.0)
    assert parsed.category is not None and parsed.category.path == "Footwear > Running Shoes"
    assert parsed.category.applied
    assert parsed.explain == "Running Shoes · Nike · under 50 · Red · for men"
    json.dumps(parsed.model_dump(mode="json"))  # JSON-serialisable


# --- spelling ---------------------------------------------------------------------------------
def test_typos_are_corrected(parser: QueryParser) -> None:
    parsed = parser.parse("nikey runing shoos")
    assert parsed.corrected == "nike running shoes"
    assert parsed.text.split() == ["nike", "running", "shoes"]
    assert parsed.brands == ["Nike"]
    assert parser.correct("blendr") == "blender"
    assert parser.correct("televisoin") == "television"  # transposition = one edit


@pytest.mark.parametrize(
    "query",
    [
        "running shoes",
        "red jeans",
        "something to keep coffee hot",
        "tv 55 inch",
        "camiseta para homem",
        "size 42",
    ],
)
def test_known_words_are_not_corrected(parser: QueryParser, query: str) -> None:
    assert parser.parse(query).corrected is None


def test_spell_corrector_prefers_closer_then_more_frequent() -> None:
    sc = SpellCorrector().fit(["shoes shoes shoes shows", "boots boats boats boats"])
    assert sc.correct("shoez") == "shoes"  # shoes and shows both one edit away: frequency decides
    assert sc.correct("bootss") == "boots"  # one edit (deletion) beats "boats" at two
    assert sc.correct("xyzzyq") == "xyzzyq"  # nothing close: left alone
    assert sc.correct("shoe") == "shoe"  # four letters or fewer: too many neighbours to correct safely


def test_query_log_words_need_repeats_to_become_known() -> None:
    sc = SpellCorrector(min_query_count=3).fit(["nike running shoes"], query_log=["nikey"] * 2 + ["yoga"] * 3)
    assert sc.correct("nikey") == "nike"  # a typo typed twice is still a typo
    assert sc.is_known("yoga")


# --- category ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "category"),
    [
        ("something to keep coffee hot", "Home & Kitchen > Drinkware"),
        ("pan for eggs", "Home & Kitchen > Cookware"),
        ("wireless earphones for music", "Electronics > Headphones"),
        ("boots for hiking", "Footwear > Boots"),
        ("denim", "Apparel > Jeans"),
        ("celular", "Electronics > Phones"),  # learned only from the logged click
    ],
)
def test_category_intent_on_unseen_queries(qu: QueryUnderstanding, query: str, category: str) -> None:
    parsed = qu.parse(query)
    assert parsed.category is not None
    assert parsed.category.path == category


def test_constraint_only_query_has_no_category(qu: QueryUnderstanding) -> None:
    assert qu.parse("gift for dad under 50").category is None


def test_classifier_matches_sklearn_and_round_trips(catalog: pd.DataFrame, tmp_path) -> None:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from models.query.understanding import product_training_texts

    texts, labels = product_training_texts(catalog)
    clf = CategoryClassifier(C=5.0).fit(texts, labels)
    queries = ["coffee flask", "smart tv", "leather boots", "zzz"]
    with threadpool_limits(limits=1):
        reference = LogisticRegression(C=5.0, max_iter=300, random_state=42).fit(clf._features(texts), labels)
    np.testing.assert_allclose(
        clf.predict_proba(queries), reference.predict_proba(clf._features(queries)), atol=1e-5
    )
    clf.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    loaded = CategoryClassifier.load(tmp_path)
    np.testing.assert_allclose(loaded.predict_proba(queries), clf.predict_proba(queries), atol=1e-7)
    assert loaded.predict(["coffee flask"]) == ["Home & Kitchen > Drinkware"]


def test_classifier_bad_input() -> None:
    with pytest.raises(ValueError, match="labels"):
        CategoryClassifier().fit(["a", "b"], ["x"])
    with pytest.raises(RuntimeError, match="not fitted"):
        CategoryClassifier().predict_proba(["x"])


# --- synonyms ---------------------------------------------------------------------------------
def test_synonyms_two_way_and_one_way() -> None:
    syn = SynonymSet.from_dict(
        {"two_way": [["tv", "television"]], "one_way": {"sneakers": ["running shoes", "trainers"]}}
    )
    assert syn.expand(["samsung", "tv"]) == ["samsung television"]
    assert syn.expand("samsung television") == ["samsung tv"]
    assert syn.expand(["red", "sneakers"]) == ["red running shoes", "red trainers"]
    assert syn.expand(["running", "shoes"]) == []  # one-way: no reverse rewrite
    with pytest.raises(ValueError, match="unknown synonym keys"):
        SynonymSet.from_dict({"twoway": []})


def test_synonyms_feed_parsed_expansions(qu: QueryUnderstanding) -> None:
    assert qu.parse("samsung tv").expansions == ["samsung television"]
    assert qu.parse("sneakers for kids").expansions == ["running shoes"]


# --- persistence and speed ----------------------------------------------------------------------
_ROUND_TRIP_QUERIES = [
    "red nike running shoes for dad under 50",
    "nikey runing shoos",
    "tênis vermelho para homem até 200 reais",
    "₹500 के अंदर लाल जूते",
    "something to keep coffee hot",
    "samsung tv between 300 and 600",
    "xl hoodie gift for him",
]


def test_save_load_round_trip(qu: QueryUnderstanding, tmp_path) -> None:
    paths = qu.save(tmp_path)
    assert all(p.suffix in {".json", ".npz"} for p in paths)
    loaded = QueryUnderstanding.load(tmp_path)
    for q in _ROUND_TRIP_QUERIES:
        assert loaded.parse(q).model_dump() == qu.parse(q).model_dump(), q
    # The service's Settings threshold overrides the trained one.
    strict = QueryUnderstanding.load(tmp_path, category_threshold=0.999)
    assert strict.parse("something to keep coffee hot").category.applied is False


def test_parse_rejects_bad_input_and_unfitted(qu: QueryUnderstanding) -> None:
    with pytest.raises(TypeError, match="string"):
        qu.parser_.parse(None)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not fitted"):
        QueryParser().parse("shoes")
    with pytest.raises(ValueError, match="title"):
        QueryParser().fit(pd.DataFrame({"name": ["x"]}))
    assert isinstance(qu.parse(""), ParsedQuery)
    assert len(qu.parse("shoes " * 500).query) == qu.parser_.max_query_chars


def test_popcount_fallback_matches_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.query.spelling import _popcount

    x = np.random.default_rng(0).integers(0, 2**32, size=1000, dtype=np.uint64).astype(np.uint32)
    expected = np.array([bin(int(v)).count("1") for v in x])
    np.testing.assert_array_equal(_popcount(x), expected)
    monkeypatch.delattr(np, "bitwise_count", raising=False)
    np.testing.assert_array_equal(_popcount(x), expected)
