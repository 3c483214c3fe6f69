"""Bengali and Hindi shoppers, in their scripts and typed in Latin letters, over an English catalog:
the real lexicon, transliteration and parser on a small planted catalog, with exact expectations."""

from __future__ import annotations

import pandas as pd
import pytest

from models.lexical import BM25Index
from models.query import QueryUnderstanding
from models.query.indic import romanize, script_of, sound_key, spelled_letters, spelling_form
from models.query.translate import QueryTranslator
from models.text import normalize, tokenize

COLUMNS = ["sku", "title", "brand", "category", "color", "size", "material", "target", "price"]
ROWS = [
    ("S1", "Nike Revolution Running Shoes", "Nike", "Footwear > Running Shoes", "Red", "42", "Mesh", "men", 3200.0),
    ("S2", "Adidas Duramo Running Shoes", "Adidas", "Footwear > Running Shoes", "White", "44", "Knit", "men", 4500.0),
    ("S3", "Bata Leather Sandals", "Bata", "Footwear > Sandals", "Brown", "38", "Leather", "women", 1200.0),
    ("T1", "Samsung 55 inch Smart Television", "Samsung", "Electronics > Televisions", "Black", "55 inch", "", "unisex", 60000.0),
    ("T2", "LG 43 inch LED Television", "LG", "Electronics > Televisions", "Black", "43 inch", "", "unisex", 32000.0),
    ("R1", "LG 260 L Double Door Refrigerator", "LG", "Appliances > Refrigerators", "Silver", "260 L", "Steel", "unisex", 28000.0),
    ("L1", "Philips 9 Watt LED Bulb", "Philips", "Electrical > Lighting", "White", "9 W", "Plastic", "unisex", 150.0),
    ("F1", "Havells Ceiling Fan 1200 mm", "Havells", "Electrical > Fans", "White", "1200 mm", "Aluminium", "unisex", 2500.0),
    ("D1", "Black & Decker 18 Volt Cordless Drill", "Black & Decker", "Tools > Drills", "Orange", "", "Plastic", "unisex", 5000.0),
    ("W1", "Cotton Saree with Border", "Tant", "Clothing > Sarees", "Red", "Free", "Cotton", "women", 1500.0),
    ("K1", "Prestige 5 Litre Pressure Cooker", "Prestige", "Kitchen > Cookware", "Silver", "5 L", "Steel", "unisex", 2200.0),
    ("C1", "Wooden Dining Chair", "Nilkamal", "Furniture > Chairs", "Brown", "", "Wood", "unisex", 3500.0),
    ("G1", "Leather Wallet for Men", "Woodland", "Accessories > Wallets", "Brown", "", "Leather", "men", 900.0),
]  # fmt: skip


@pytest.fixture(scope="module")
def qu() -> QueryUnderstanding:
    return QueryUnderstanding(category_threshold=0.3).fit(pd.DataFrame(ROWS, columns=COLUMNS))


# --- script tools ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "latin"),
    [
        ("ক্যাবিনেট", "kyabinet"),
        ("লাইট", "lait"),
        ("ওয়াটার", "watar"),
        ("দরজা", "dorja"),
        ("বুশিং", "bushing"),
        ("পেইন্ট", "peint"),
        ("पेंट", "pent"),
        ("लाइट", "lait"),
        ("बल्ब", "balb"),
        ("জিপসাম", "jipsam"),
        ("दरवाजे", "darvaje"),
        ("water", "water"),
    ],
)
def test_romanize_writes_what_a_shopper_would_type(word: str, latin: str) -> None:
    assert romanize(normalize(word)) == latin


@pytest.mark.parametrize(
    ("english", "romanised"),
    [("cabinet", "kyabinet"), ("light", "lait"), ("water", "watar"), ("bulb", "balb"), ("chrome", "krom")],
)
def test_english_and_romanised_spellings_share_a_sound_key(english: str, romanised: str) -> None:
    assert sound_key(english) == sound_key(romanised)


def test_spelling_form_brings_loanword_spellings_together() -> None:
    assert spelling_form("bulb", english=True) == spelling_form("balb")
    assert spelling_form("light", english=True) == spelling_form("lait")
    assert spelling_form("roller", english=True) == spelling_form("rolar")


def test_acronyms_spelled_letter_by_letter() -> None:
    assert spelled_letters(normalize("এলইডি")) == "led"
    assert spelled_letters(normalize("एलजी")) == "lg"
    assert spelled_letters(normalize("দরজা")) is None


def test_matching_form_unifies_digits_joiners_and_nukta() -> None:
    assert normalize("৩৬ ইঞ্চি") == "36 ইঞ্চি"
    assert normalize("४० गैलन") == "40 गैलन"
    assert normalize("সফেদ") == normalize("সফেদ")
    assert normalize("सफ़ेद") == normalize("सफेद")
    # a zero-width joiner inside a Bengali word is part of the word, not a break
    assert tokenize("মসলার র\u200d্যাক") == ["মসলার", "র্যাক"]
    assert [script_of(t) for t in ("সাদা", "सफेद", "white", "")] == ["beng", "deva", "latn", "latn"]


# --- parsing, per language -------------------------------------------------------------------
PARSES = [
    # query, language, English rendering, colours, brands, sizes, materials, price_max, target, gift
    ("লাল জুতা ৫০০০ টাকার নিচে", "bn", "red shoes", ["Red"], [], [], [], 5000.0, None, False),
    ("স্যামসাং টিভি", "bn", "samsung television", [], ["Samsung"], [], [], None, None, False),
    ("এলজি ফ্রিজ", "bn", "lg refrigerator", [], ["LG"], [], [], None, None, False),
    ("সাইজ ৪২ জুতা", "bn", "shoes", [], [], ["42"], [], None, None, False),
    (
        "ব্ল্যাক অ্যান্ড ডেকার ড্রিল",
        "bn",
        "black and decker drill",
        [],
        ["Black & Decker"],
        [],
        [],
        None,
        None,
        False,
    ),
    ("বাবার জন্য উপহার", "bn", "", [], [], [], [], None, "men", True),
    ("কাঠের চেয়ার", "bn", "wood chair", [], [], [], ["Wood"], None, None, False),
    ("৳৩০০০", "bn", "", [], [], [], [], 3000.0, None, False),
    ("सफेद जूते 5000 रुपये से कम", "hi", "white shoes", ["White"], [], [], [], 5000.0, None, False),
    ("सैमसंग टीवी", "hi", "samsung television", [], ["Samsung"], [], [], None, None, False),
    ("पापा के लिए तोहफा", "hi", "", [], [], [], [], None, "men", True),
    ("फिलिप्स एलईडी बल्ब", "hi", "philips led bulb", [], ["Philips"], [], [], None, None, False),
    ("साइज़ 44 के जूते", "hi", "shoes", [], [], ["44"], [], None, None, False),
    ("लकड़ी की कुर्सी", "hi", "wood chair", [], [], [], ["Wood"], None, None, False),
    ("lal juta 5000 takar niche", "bn-Latn", "red shoes", ["Red"], [], [], [], 5000.0, None, False),
    ("sada ceiling pakha", "bn-Latn", "white ceiling fan", ["White"], [], [], [], None, None, False),
    ("kather chair", "bn-Latn", "wood chair", [], [], [], ["Wood"], None, None, False),
    ("safed joote 5000 rupaye se kam", "hi-Latn", "white shoes", ["White"], [], [], [], 5000.0, None, False),
    ("papa ke liye gift", "hi-Latn", "", [], [], [], [], None, "men", True),
    ("lg ka fridge", "hi-Latn", "lg fridge", [], ["LG"], [], [], None, None, False),
]


@pytest.mark.parametrize(
    ("query", "language", "text", "colors", "brands", "sizes", "materials", "price_max", "target", "gift"),
    PARSES,
)
def test_bengali_and_hindi_queries_parse_to_catalog_filters(
    qu: QueryUnderstanding, query, language, text, colors, brands, sizes, materials, price_max, target, gift
) -> None:
    parsed = qu.parse(query)
    assert parsed.language == language
    assert parsed.query == query
    assert parsed.text == text
    assert (parsed.colors, parsed.brands, parsed.sizes, parsed.materials) == (
        colors,
        brands,
        sizes,
        materials,
    )
    assert (parsed.price_max, parsed.target, parsed.is_gift) == (price_max, target, gift)
    assert parsed.translated is not None


@pytest.mark.parametrize(
    ("query", "category"),
    [
        ("লাল জুতা", "Footwear > Running Shoes"),
        ("সাদা সিলিং ফ্যান", "Electrical > Fans"),
        ("प्रेशर कुकर", "Kitchen > Cookware"),
        ("lg ka fridge", None),
    ],
)
def test_translated_queries_reach_the_category_classifier(
    qu: QueryUnderstanding, query: str, category
) -> None:
    parsed = qu.parse(query)
    applied = parsed.category.path if parsed.category is not None and parsed.category.applied else None
    assert applied == category


@pytest.mark.parametrize(
    "query",
    ["red running shoes under 5000", "samsung tv", "black and decker drill", "tenis vermelho", "chair"],
)
def test_english_and_portuguese_are_read_as_typed(qu: QueryUnderstanding, query: str) -> None:
    parsed = qu.parse(query)
    assert parsed.language == "en"
    assert parsed.translated is None
    assert parsed.text == qu.parser_.parse(query).text


def test_unknown_script_words_are_kept_for_native_titles_not_for_the_encoder(qu: QueryUnderstanding) -> None:
    parsed = qu.parse("ঝকমকে জুতা")  # a made-up adjective no step knows, and "shoes"
    assert parsed.text == "shoes"
    assert parsed.kept == "ঝকমকে জুতা"


def test_translator_round_trips_through_its_file(tmp_path, qu: QueryUnderstanding) -> None:
    qu.translator_.save(tmp_path)
    loaded = QueryTranslator.load(tmp_path)
    for query, *_ in PARSES:
        assert loaded.translate(query) == qu.translator_.translate(query)


def test_titles_in_other_languages_are_searched() -> None:
    rows = pd.DataFrame(
        [
            {"title": "Cotton Saree", "title_bn": "সুতির শাড়ি", "category": "Clothing"},
            {"title": "Silk Saree", "title_hi": "रेशमी साड़ी", "category": "Clothing"},
            {"title": "Cotton Towel", "category": "Home"},
        ]
    )
    index = BM25Index().fit(rows, ["bn", "hi", "en"])
    assert index.search("সুতির", k=1)[0] == ["bn"]
    assert index.search("रेशमी", k=1)[0] == ["hi"]
