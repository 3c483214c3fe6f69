"""Labels, notes and reasons in English, Bengali, Hindi and Portuguese."""

from __future__ import annotations

import pytest

from models import i18n
from models.query.parser import CategoryIntent, ParsedQuery


@pytest.mark.parametrize(
    ("lang", "header", "expected"),
    [
        ("bn", None, "bn"),
        ("bn-BD", None, "bn"),
        ("pt_BR", "hi", "pt"),
        (None, "hi-IN,hi;q=0.9,en;q=0.8", "hi"),
        (None, "fr-FR,pt;q=0.5,bn;q=0.7", "bn"),
        (None, "fr-FR", "en"),
        (None, None, "en"),
    ],
)
def test_the_readers_language(lang, header, expected) -> None:
    assert i18n.pick_language(lang, header) == expected


def test_intent_chips_in_each_language() -> None:
    parsed = ParsedQuery(
        query="q",
        text="shoes",
        price_max=50,
        colors=["Red"],
        sizes=["42"],
        target="men",
        is_gift=True,
        category=CategoryIntent(path="Footwear > Running Shoes", confidence=0.9, applied=True),
    )
    assert i18n.intent_label(parsed, "en") == parsed.build_explain()
    assert i18n.intent_label(parsed, "bn") == "Running Shoes · 50-এর নিচে · লাল · সাইজ 42 · পুরুষদের জন্য · উপহার"
    assert i18n.intent_label(parsed, "hi") == "Running Shoes · 50 से कम · लाल · साइज़ 42 · पुरुषों के लिए · उपहार"
    assert (
        i18n.intent_label(parsed, "pt")
        == "Running Shoes · até 50 · vermelho · tamanho 42 · para homens · presente"
    )


@pytest.mark.parametrize(
    ("english", "lang", "expected"),
    [
        ("Trending store ST-DAC this week", "bn", "এই সপ্তাহে স্টোর ST-DAC-এ জনপ্রিয়"),
        ("Trending everywhere this week", "hi", "इस हफ़्ते हर जगह लोकप्रिय"),
        (
            "Goes with Trail Shoe you bought in store 3 days ago",
            "bn",
            "Trail Shoe-এর সাথে মানায় — আপনি 3 দিন আগে দোকানে কিনেছেন",
        ),
        (
            "Time to restock Dog Food: you bought it 2 weeks ago",
            "pt",
            "Hora de repor Dog Food: você comprou há 2 semanas",
        ),
        ("Frequently bought together", "hi", "अक्सर साथ खरीदे जाते हैं"),
        (
            "no keyword match; showing the closest products by meaning",
            "bn",
            "কোনো শব্দ মেলেনি; অর্থে সবচেয়ে কাছের পণ্য দেখানো হচ্ছে",
        ),
        (
            "3 more results that are not for men follow after result 7",
            "pt",
            "depois do resultado 7 vêm mais 3 resultados que não são for men",
        ),
        ("A sentence without a template", "bn", "A sentence without a template"),
        ("Similar product", "en", "Similar product"),
    ],
)
def test_sentences_render_by_their_english_template(english: str, lang: str, expected: str) -> None:
    assert i18n.sentence(english, lang) == expected
