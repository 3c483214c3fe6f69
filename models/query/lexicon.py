"""Closed-class query words in English, Portuguese (Brazil) and Hindi.

Everything open-class (brands, colours, sizes, materials, categories) is learned from the catalog;
only words a catalog never contains -- "under", "para homem", "से कम", "presente" -- live here.
Keys are written naturally and normalised (``models.text.normalize``) where they are used, so
"mãe" and "mae" match alike.
"""

from __future__ import annotations

# Colour words -> English base colour, compared with the catalog's colour values.
COLOR_WORDS: dict[str, str] = {
    # English
    **{
        c: c
        for c in "red black white blue green yellow pink purple orange brown beige gold silver navy".split()
    },
    "grey": "grey",
    "gray": "grey",
    "violet": "purple",
    "burgundy": "burgundy",
    "maroon": "burgundy",
    "turquoise": "turquoise",
    "teal": "teal",
    "cream": "beige",
    # Portuguese (all genders / numbers)
    **dict.fromkeys(["vermelho", "vermelha", "vermelhos", "vermelhas"], "red"),
    **dict.fromkeys(["preto", "preta", "pretos", "pretas", "negro", "negra"], "black"),
    **dict.fromkeys(["branco", "branca", "brancos", "brancas"], "white"),
    **dict.fromkeys(["azul", "azuis"], "blue"),
    **dict.fromkeys(["azul marinho", "marinho"], "navy"),
    **dict.fromkeys(["verde", "verdes"], "green"),
    **dict.fromkeys(["amarelo", "amarela", "amarelos", "amarelas"], "yellow"),
    **dict.fromkeys(["rosa", "rosas", "pink"], "pink"),
    **dict.fromkeys(["roxo", "roxa", "roxos", "roxas", "lilas"], "purple"),
    **dict.fromkeys(["laranja", "laranjas"], "orange"),
    **dict.fromkeys(["marrom", "marrons"], "brown"),
    **dict.fromkeys(["cinza", "cinzas", "cinzento", "cinzenta"], "grey"),
    **dict.fromkeys(["bege"], "beige"),
    **dict.fromkeys(["dourado", "dourada", "dourados", "douradas"], "gold"),
    **dict.fromkeys(["prateado", "prateada", "prateados", "prateadas", "prata"], "silver"),
    "vinho": "burgundy",
    # Hindi
    "लाल": "red",
    **dict.fromkeys(["काला", "काली", "काले"], "black"),
    **dict.fromkeys(["सफेद", "सफ़ेद"], "white"),
    **dict.fromkeys(["नीला", "नीली", "नीले"], "blue"),
    **dict.fromkeys(["हरा", "हरी", "हरे"], "green"),
    **dict.fromkeys(["पीला", "पीली", "पीले"], "yellow"),
    "गुलाबी": "pink",
    "बैंगनी": "purple",
    "नारंगी": "orange",
    **dict.fromkeys(["भूरा", "भूरी", "भूरे"], "brown"),
    **dict.fromkeys(["स्लेटी", "धूसर"], "grey"),
    **dict.fromkeys(["सुनहरा", "सुनहरी"], "gold"),
    **dict.fromkeys(["चांदी", "चाँदी"], "silver"),
}

# Recipient / gender words -> canonical target. Longer phrases win (regex alternation is sorted).
TARGET_WORDS: dict[str, str] = {
    # men
    **dict.fromkeys(
        [
            "men",
            "mens",
            "men's",
            "man",
            "male",
            "gents",
            "him",
            "dad",
            "father",
            "husband",
            "boyfriend",
            "brother",
            "grandpa",
            "grandfather",
            "masculino",
            "masculina",
            "masculinos",
            "homem",
            "homens",
            "pai",
            "papai",
            "marido",
            "namorado",
            "irmao",
            "avo",
            "पुरुष",
            "पुरुषों",
            "पापा",
            "पिता",
            "पति",
            "भाई",
        ],
        "men",
    ),
    # women
    **dict.fromkeys(
        [
            "women",
            "womens",
            "women's",
            "woman",
            "female",
            "ladies",
            "lady",
            "her",
            "mom",
            "mum",
            "mother",
            "wife",
            "girlfriend",
            "sister",
            "grandma",
            "grandmother",
            "feminino",
            "feminina",
            "femininos",
            "femininas",
            "mulher",
            "mulheres",
            "mae",
            "mamae",
            "esposa",
            "namorada",
            "irma",
            "avó",
            "महिला",
            "महिलाओं",
            "मां",
            "माँ",
            "माता",
            "पत्नी",
            "बहन",
        ],
        "women",
    ),
    # kids
    **dict.fromkeys(
        [
            "kids",
            "kid",
            "kid's",
            "kids'",
            "child",
            "children",
            "boys",
            "girls",
            "boy",
            "girl",
            "baby",
            "toddler",
            "son",
            "daughter",
            "infantil",
            "infantis",
            "crianca",
            "criancas",
            "menino",
            "menina",
            "meninos",
            "meninas",
            "bebe",
            "filho",
            "filha",
            "बच्चों",
            "बच्चे",
            "बच्चा",
            "बेटा",
            "बेटी",
        ],
        "kids",
    ),
    **dict.fromkeys(["unisex", "unissex", "यूनिसेक्स"], "unisex"),
}

# Words that may precede a recipient ("for my dad", "para o pai", "pro meu pai").
TARGET_PREFIXES: tuple[str, ...] = (
    "for my",
    "for",
    "para o",
    "para a",
    "para meu",
    "para minha",
    "para",
    "pro",
    "pra",
)
# Hindi postposition after the recipient ("बच्चों के लिए").
TARGET_SUFFIXES: tuple[str, ...] = ("के लिए",)

GIFT_WORDS: tuple[str, ...] = (
    "gift ideas",
    "gift idea",
    "gifts",
    "gift",
    "presents",
    "present",
    "ideias de presente",
    "presentes",
    "presente",
    "lembrancinha",
    "lembrancinhas",
    "उपहार",
    "तोहफा",
    "तोहफ़ा",
    "गिफ्ट",
)

# Price words without a number: a soft hint, never a hard bound.
PRICE_HINT_WORDS: dict[str, str] = {
    **dict.fromkeys(["cheap", "cheapest", "budget", "affordable", "inexpensive", "low cost"], "low"),
    **dict.fromkeys(["barato", "barata", "baratos", "baratas", "em conta"], "low"),
    **dict.fromkeys(["सस्ता", "सस्ती", "सस्ते"], "low"),
    **dict.fromkeys(["luxury", "premium", "expensive", "high end"], "high"),
    **dict.fromkeys(["luxo", "caro", "cara"], "high"),
    **dict.fromkeys(["महंगा", "महंगी"], "high"),
}

CURRENCY = r"(?:r\$|\$|₹|৳|rs\.?|tk\.?|inr|bdt|usd|brl|us\$|€|eur|£)"
CURRENCY_AFTER = (
    r"(?:reais|real|dollars?|bucks|rupees?|rupaye|रुपये|रुपए|रुपया|rs\.?|inr|usd|brl|eur|euros?|"
    r"taka|tk\.?|bdt|টাকা)"
)
# "under 50"-style words that set an upper bound, written before the number.
MAX_BEFORE: tuple[str, ...] = (
    "under",
    "below",
    "less than",
    "cheaper than",
    "up to",
    "upto",
    "max",
    "maximum",
    "at most",
    "no more than",
    "within",
    "not more than",
    "abaixo de",
    "ate",
    "menos de",
    "no maximo",
    "por ate",
    "por menos de",
    "inferior a",
)
MIN_BEFORE: tuple[str, ...] = (
    "over",
    "above",
    "more than",
    "greater than",
    "at least",
    "min",
    "minimum",
    "starting at",
    "acima de",
    "mais de",
    "a partir de",
    "no minimo",
    "superior a",
)
# Hindi and "or less" phrasing put the bound word after the number.
MAX_AFTER: tuple[str, ...] = (
    "से कम",
    "के अंदर",
    "के अन्दर",
    "तक",
    "से नीचे",
    "or less",
    "or under",
    "ou menos",
    "max",
)
MIN_AFTER: tuple[str, ...] = ("से ज्यादा", "से ज़्यादा", "से अधिक", "से ऊपर", "or more", "and up", "ou mais", "plus")
RANGE_BEFORE: tuple[str, ...] = ("between", "from", "entre", "de")
RANGE_JOIN: tuple[str, ...] = ("and", "to", "e", "a", "ate", "-", "–", "और", "से")
HINDI_RANGE_AFTER: tuple[str, ...] = ("के बीच",)

SIZE_WORDS: tuple[str, ...] = ("size", "sz", "tamanho", "tam", "numero", "साइज़", "साइज", "नंबर")
# Bare letter sizes recognised without a "size" word (single letters are too ambiguous).
LETTER_SIZES: frozenset[str] = frozenset(
    {"xxs", "xs", "xl", "xxl", "xxxl", "2xl", "3xl", "4xl", "pp", "gg", "xg", "xgg", "eg", "egg"}
)

# Connector words left dangling once a constraint phrase is cut out ("shoes for" -> "shoes").
EDGE_CONNECTORS: frozenset[str] = frozenset(
    "for with and or of in the a an to my para pra pro com e de do da o a em meu minha no na por "
    "के लिए का की को में".split()
)

# Frequent query words a catalog rarely contains; the spell corrector must leave them alone.
COMMON_QUERY_WORDS: frozenset[str] = frozenset(
    """
    something anything thing things stuff keep keeps make makes good best great nice new top cool
    looking want need buy shop cheap price sale deal deals offer offers idea ideas gift gifts present
    like love small large big little long short light heavy warm cold hot soft hard easy fast
    home work office travel outdoor indoor summer winter spring autumn fall christmas birthday
    mothers fathers valentines day wedding party school style pair pack set
    para com sem uma um algo coisa presente melhor melhores novo nova bom boa barato barata
    quero preciso comprar casa trabalho viagem verao inverno natal aniversario dia das dos
    """.split()
)

# Recipient words too ambiguous on their own ("iron man", "her"): they need "for"/"para" first.
TARGET_NEEDS_PREFIX: frozenset[str] = frozenset(
    {"him", "her", "man", "son", "lady", "boy", "girl", "brother", "sister", "avo", "irma", "irmao"}
)


def _normalized(mapping: dict[str, str]) -> dict[str, str]:
    from models.text import normalize

    return {normalize(k): v for k, v in mapping.items()}


TARGET_WORDS_NORMALIZED: dict[str, str] = _normalized(TARGET_WORDS)
PRICE_HINT_NORMALIZED: dict[str, str] = _normalized(PRICE_HINT_WORDS)
