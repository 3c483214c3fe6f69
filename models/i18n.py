"""What a shopper or an associate reads, in their language: English, Bengali, Hindi, Portuguese.

Search and recommendations write their explanations once, in English (the logs, the tests and
the merchandisers read those). This module renders them for a reader: the intent chips ("Running
Shoes · under 50 · red") from the parsed intent, and the fixed sentences (recommendation reasons,
relaxation notes) by their English templates. Catalog strings inside them (titles, categories,
brands) are the retailer's own and stay as written.

The language is the request's ``lang`` parameter, else the best supported one in its
``Accept-Language`` header, else English.
"""

from __future__ import annotations

import re
from typing import Protocol

LANGUAGES: tuple[str, ...] = ("en", "bn", "hi", "pt")
DEFAULT = "en"


def pick_language(lang: str | None, accept_language: str | None = None) -> str:
    """``lang`` when supported (``bn``, ``bn-BD``, ``pt_BR`` all count), else the highest-weighted
    supported language of an ``Accept-Language`` header, else English."""
    if lang:
        base = re.split(r"[-_]", lang.strip().lower())[0]
        if base in LANGUAGES:
            return base
    if accept_language:
        offers: list[tuple[float, int, str]] = []
        for i, part in enumerate(accept_language.split(",")):
            tag, _, params = part.strip().partition(";")
            weight = 1.0
            match = re.search(r"q\s*=\s*([0-9.]+)", params)
            if match:
                try:
                    weight = float(match.group(1))
                except ValueError:
                    weight = 0.0
            base = re.split(r"[-_]", tag.strip().lower())[0]
            if base in LANGUAGES and weight > 0:
                offers.append((-weight, i, base))
        if offers:
            return min(offers)[2]
    return DEFAULT


# --- words of the intent chips ---------------------------------------------------------------
_COLOURS: dict[str, tuple[str, str, str]] = {
    # English: (Bengali, Hindi, Portuguese)
    "red": ("লাল", "लाल", "vermelho"),
    "black": ("কালো", "काला", "preto"),
    "white": ("সাদা", "सफेद", "branco"),
    "blue": ("নীল", "नीला", "azul"),
    "green": ("সবুজ", "हरा", "verde"),
    "yellow": ("হলুদ", "पीला", "amarelo"),
    "pink": ("গোলাপি", "गुलाबी", "rosa"),
    "purple": ("বেগুনি", "बैंगनी", "roxo"),
    "orange": ("কমলা", "नारंगी", "laranja"),
    "brown": ("বাদামি", "भूरा", "marrom"),
    "beige": ("ঘিয়ে", "बेज", "bege"),
    "gold": ("সোনালি", "सुनहरा", "dourado"),
    "silver": ("রুপালি", "चांदी", "prateado"),
    "navy": ("গাঢ় নীল", "गहरा नीला", "azul-marinho"),
    "grey": ("ধূসর", "स्लेटी", "cinza"),
    "gray": ("ধূসর", "स्लेटी", "cinza"),
    "burgundy": ("মেরুন", "मैरून", "vinho"),
    "turquoise": ("ফিরোজা", "फ़िरोज़ी", "turquesa"),
}
_WORDS: dict[str, dict[str, str]] = {
    "under": {"en": "under {x}", "bn": "{x}-এর নিচে", "hi": "{x} से कम", "pt": "até {x}"},
    "over": {"en": "over {x}", "bn": "{x}-এর বেশি", "hi": "{x} से ज़्यादा", "pt": "acima de {x}"},
    "range": {"en": "{a}–{b}", "bn": "{a}–{b}", "hi": "{a}–{b}", "pt": "{a}–{b}"},
    "cheap": {"en": "cheap", "bn": "সস্তা", "hi": "सस्ता", "pt": "barato"},
    "premium": {"en": "premium", "bn": "দামি", "hi": "महंगा", "pt": "premium"},
    "size": {"en": "size {s}", "bn": "সাইজ {s}", "hi": "साइज़ {s}", "pt": "tamanho {s}"},
    "gift": {"en": "gift", "bn": "উপহার", "hi": "उपहार", "pt": "presente"},
    "for men": {"en": "for men", "bn": "পুরুষদের জন্য", "hi": "पुरुषों के लिए", "pt": "para homens"},
    "for women": {"en": "for women", "bn": "মহিলাদের জন্য", "hi": "महिलाओं के लिए", "pt": "para mulheres"},
    "for kids": {"en": "for kids", "bn": "শিশুদের জন্য", "hi": "बच्चों के लिए", "pt": "para crianças"},
    "for unisex": {"en": "for unisex", "bn": "সবার জন্য", "hi": "सबके लिए", "pt": "unissex"},
}


def word(key: str, lang: str, **values: object) -> str:
    table = _WORDS[key]
    return table.get(lang, table["en"]).format(**values)


def colour(value: str, lang: str) -> str:
    """A catalog colour in ``lang`` when it is a base colour; other names stay as the catalog has them."""
    names = _COLOURS.get(value.casefold())
    if names is None or lang == "en":
        return value
    return names[("bn", "hi", "pt").index(lang)] if lang in ("bn", "hi", "pt") else value


class _Intent(Protocol):
    category: object
    brands: list[str]
    price_min: float | None
    price_max: float | None
    price_hint: str | None
    colors: list[str]
    sizes: list[str]
    materials: list[str]
    target: str | None
    is_gift: bool


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def intent_label(parsed: _Intent, lang: str) -> str:
    """The chips of a parsed query ("Running Shoes · Nike · under 50 · red") in ``lang``: the same
    parts, in the same order, as ``ParsedQuery.build_explain``."""
    parts: list[str] = []
    category = parsed.category
    if category is not None and getattr(category, "applied", False):
        parts.append(str(category.path).split(">")[-1].strip())  # the catalog's own name
    parts.extend(parsed.brands)
    if parsed.price_min is not None and parsed.price_max is not None:
        parts.append(word("range", lang, a=_fmt(parsed.price_min), b=_fmt(parsed.price_max)))
    elif parsed.price_max is not None:
        parts.append(word("under", lang, x=_fmt(parsed.price_max)))
    elif parsed.price_min is not None:
        parts.append(word("over", lang, x=_fmt(parsed.price_min)))
    if parsed.price_hint:
        parts.append(word("cheap" if parsed.price_hint == "low" else "premium", lang))
    parts.extend(colour(c, lang) for c in parsed.colors)
    parts.extend(word("size", lang, s=s) for s in parsed.sizes)
    parts.extend(parsed.materials)
    if parsed.target:
        key = f"for {parsed.target}"
        parts.append(word(key, lang) if key in _WORDS else f"for {parsed.target}")
    if parsed.is_gift:
        parts.append(word("gift", lang))
    return " · ".join(parts)


# --- sentences -------------------------------------------------------------------------------
_AGO = (
    (re.compile(r"^today$"), {"bn": "আজ", "hi": "आज", "pt": "hoje"}),
    (re.compile(r"^(\d+) days? ago$"), {"bn": "{0} দিন আগে", "hi": "{0} दिन पहले", "pt": "há {0} dias"}),
    (re.compile(r"^(\d+) weeks ago$"), {"bn": "{0} সপ্তাহ আগে", "hi": "{0} हफ़्ते पहले", "pt": "há {0} semanas"}),
    (re.compile(r"^(\d+) months ago$"), {"bn": "{0} মাস আগে", "hi": "{0} महीने पहले", "pt": "há {0} meses"}),
)
_VERBS = {
    "bought": {"bn": "কিনেছেন", "hi": "खरीदा", "pt": "comprou"},
    "added to cart": {"bn": "কার্টে রেখেছেন", "hi": "कार्ट में डाला", "pt": "colocou no carrinho"},
    "viewed": {"bn": "দেখেছেন", "hi": "देखा", "pt": "viu"},
}
_WHERE = {
    "in store": {"bn": "দোকানে", "hi": "दुकान में", "pt": "na loja"},
    "online": {"bn": "অনলাইনে", "hi": "ऑनलाइन", "pt": "online"},
    "everywhere": {"bn": "সবখানে", "hi": "हर जगह", "pt": "em todo lugar"},
    "web": {"bn": "ওয়েবসাইটে", "hi": "वेबसाइट पर", "pt": "no site"},
    "app": {"bn": "অ্যাপে", "hi": "ऐप में", "pt": "no app"},
    "store": {"bn": "দোকানে", "hi": "दुकानों में", "pt": "nas lojas"},
    "marketplace": {"bn": "মার্কেটপ্লেসে", "hi": "मार्केटप्लेस पर", "pt": "no marketplace"},
}

_UNITS = {
    "purchase": {"bn": "কেনাকাটা", "hi": "ख़रीदारी", "pt": "compras"},
    "point": {"bn": "পয়েন্ট", "hi": "अंक", "pt": "pontos"},
}


def _ago(text: str, lang: str) -> str:
    for pattern, forms in _AGO:
        match = pattern.match(text)
        if match:
            return forms[lang].format(*match.groups())
    return text


def _where(text: str, lang: str) -> str:
    store = re.fullmatch(r"store (.+)", text)
    if store:
        return {"bn": "স্টোর {0}-এ", "hi": "स्टोर {0} में", "pt": "na loja {0}"}[lang].format(store.group(1))
    return _WHERE.get(text, {}).get(lang, text)


_SENTENCES: tuple[tuple[re.Pattern[str], dict[str, str]], ...] = tuple(
    (re.compile(pattern), forms)
    for pattern, forms in (
        (
            r"^Goes with (?P<title>.+) you (?P<verb>bought|added to cart|viewed) (?P<where>in store|online) (?P<when>.+)$",
            {
                "bn": "{title}-এর সাথে মানায় — আপনি {when} {where} {verb}",
                "hi": "{title} के साथ जंचता है — आपने {when} {where} {verb}",
                "pt": "Combina com {title}, que você {verb} {where} {when}",
            },
        ),
        (
            r"^Picked for you from your interest in (?P<cat>.+)$",
            {
                "bn": "{cat}-এ আপনার আগ্রহ দেখে বাছাই করা",
                "hi": "{cat} में आपकी रुचि देखकर चुना गया",
                "pt": "Escolhido para você pelo seu interesse em {cat}",
            },
        ),
        (
            r"^Trending (?P<where>.+) this week$",
            {
                "bn": "এই সপ্তাহে {where} জনপ্রিয়",
                "hi": "इस हफ़्ते {where} लोकप्रिय",
                "pt": "Em alta {where} esta semana",
            },
        ),
        (
            r"^Time to restock (?P<title>.+): you bought it (?P<when>.+)$",
            {
                "bn": "{title} আবার কেনার সময় হয়েছে: আপনি কিনেছেন {when}",
                "hi": "{title} फिर से लेने का समय: आपने {when} खरीदा था",
                "pt": "Hora de repor {title}: você comprou {when}",
            },
        ),
        (
            r"^Often bought with (?P<a>.+): (?P<b>.+)$",
            {
                "bn": "{a}-এর সাথে প্রায়ই কেনা হয়: {b}",
                "hi": "{a} के साथ अक्सर खरीदा जाता है: {b}",
                "pt": "Muitas vezes comprado com {a}: {b}",
            },
        ),
        (
            r"^Shoppers who liked this also liked$",
            {
                "bn": "যাঁরা এটি পছন্দ করেছেন, তাঁরা এগুলোও পছন্দ করেছেন",
                "hi": "इसे पसंद करने वालों ने ये भी पसंद किए",
                "pt": "Quem gostou disto também gostou",
            },
        ),
        (
            r"^Shoppers who viewed this also viewed$",
            {
                "bn": "যাঁরা এটি দেখেছেন, তাঁরা এগুলোও দেখেছেন",
                "hi": "इसे देखने वालों ने ये भी देखे",
                "pt": "Quem viu isto também viu",
            },
        ),
        (r"^Similar product$", {"bn": "একই ধরনের পণ্য", "hi": "मिलता-जुलता उत्पाद", "pt": "Produto semelhante"}),
        (
            r"^Frequently bought together$",
            {"bn": "প্রায়ই একসাথে কেনা হয়", "hi": "अक्सर साथ खरीदे जाते हैं", "pt": "Comprados juntos com frequência"},
        ),
        (
            r"^Completes your basket$",
            {"bn": "আপনার বাজারের ঝুড়ি পূর্ণ করে", "hi": "आपकी टोकरी पूरी करता है", "pt": "Completa a sua cesta"},
        ),
        (
            r"^Featured by the shop$",
            {"bn": "দোকানের বিশেষ পছন্দ", "hi": "दुकान की ख़ास पेशकश", "pt": "Destaque da loja"},
        ),
        (r"^On sale now$", {"bn": "এখন ছাড়ে", "hi": "अभी सेल में", "pt": "Em promoção agora"}),
        (r"^New arrival$", {"bn": "নতুন এসেছে", "hi": "नया आया है", "pt": "Novidade"}),
        (
            r"^Member offer, unlocked by your (?P<tier>.+) tier$",
            {
                "bn": "সদস্যদের অফার, আপনার {tier} স্তরে খোলা",
                "hi": "सदस्यों का ऑफ़र, आपके {tier} स्तर से खुला",
                "pt": "Oferta para membros, liberada pelo seu nível {tier}",
            },
        ),
        (
            r"^On sale now in (?P<cat>.+), picked for you$",
            {
                "bn": "{cat}-এ এখন ছাড়ে, আপনার জন্য বাছাই করা",
                "hi": "{cat} में अभी सेल में, आपके लिए चुना गया",
                "pt": "Em promoção agora em {cat}, escolhido para você",
            },
        ),
        (
            r"^New arrival in (?P<cat>.+), picked for you$",
            {
                "bn": "{cat}-এ নতুন এসেছে, আপনার জন্য বাছাই করা",
                "hi": "{cat} में नया आया है, आपके लिए चुना गया",
                "pt": "Novidade em {cat}, escolhida para você",
            },
        ),
        (
            r"^(?P<n>\d+) (?P<unit>purchases?|points?) from (?P<tier>.+)$",
            {
                "bn": "{tier} থেকে আর {n} {unit}",
                "hi": "{tier} से {n} {unit} दूर",
                "pt": "faltam {n} {unit} para {tier}",
            },
        ),
        (
            r"^no results with (?P<name>[^=]+)=(?P<value>.+); relaxed it$",
            {
                "bn": "{name}={value} দিয়ে কিছু পাওয়া যায়নি; এই শর্তটি বাদ দেওয়া হয়েছে",
                "hi": "{name}={value} के साथ कोई नतीजा नहीं; यह शर्त हटा दी गई",
                "pt": "nenhum resultado com {name}={value}; o filtro foi relaxado",
            },
        ),
        (
            r"^no keyword match; showing the closest products by meaning$",
            {
                "bn": "কোনো শব্দ মেলেনি; অর্থে সবচেয়ে কাছের পণ্য দেখানো হচ্ছে",
                "hi": "कोई शब्द मेल नहीं खाया; अर्थ में सबसे क़रीबी उत्पाद दिखाए जा रहे हैं",
                "pt": "nenhuma palavra encontrada; mostrando os produtos mais próximos pelo significado",
            },
        ),
        (
            r"^(?P<n>\d+) more results that are not (?P<missed>.+) follow after result (?P<m>\d+)$",
            {
                "bn": "{m} নম্বর ফলাফলের পরে আরও {n}টি ফলাফল আছে, যেগুলো {missed} নয়",
                "hi": "नतीजा {m} के बाद {n} और नतीजे हैं जो {missed} नहीं हैं",
                "pt": "depois do resultado {m} vêm mais {n} resultados que não são {missed}",
            },
        ),
        (
            r"^nothing in (?P<path>.+) matches; other categories shown$",
            {
                "bn": "{path}-এ কিছু মেলেনি; অন্য বিভাগ দেখানো হচ্ছে",
                "hi": "{path} में कुछ नहीं मिला; दूसरी श्रेणियाँ दिखाई जा रही हैं",
                "pt": "nada em {path} corresponde; outras categorias exibidas",
            },
        ),
    )
)


def sentence(text: str, lang: str) -> str:
    """An English explanation (a recommendation reason, a relaxation note) in ``lang``; a sentence
    this module has no template for stays in English rather than being guessed at."""
    if lang == DEFAULT or lang not in LANGUAGES:
        return text
    for pattern, forms in _SENTENCES:
        match = pattern.match(text)
        if match is None:
            continue
        values = match.groupdict()
        if "when" in values:
            values["when"] = _ago(values["when"], lang)
        if "verb" in values:
            values["verb"] = _VERBS[values["verb"]][lang]
        if "where" in values:
            values["where"] = _where(values["where"], lang)
        if "unit" in values:
            values["unit"] = _UNITS[values["unit"].rstrip("s")][lang]
        return forms[lang].format(**values)
    return text
