"""Bengali and Devanagari text as a search engine over an English catalog needs it.

Shoppers in Bangladesh and India type product words in their own script (সাদা, सफेद), English
loanwords and brand names in that script (ক্যাবিনেট, पेंट, এলজি), or all of it in Latin letters with
no fixed spelling ("sada", "safed", "dorjar"). Three small tools make these comparable with the
catalog's English words:

- ``script_of``: which script a text is written in;
- ``romanize``: Bengali or Devanagari to plain Latin letters (indic-transliteration's ITRANS,
  simplified to what a shopper would type: "ক্যাবিনেট" -> "kyabinet", "पेंट" -> "pent");
- ``sound_key``: a consonant skeleton that English spellings and romanised Indic spellings share
  ("cabinet" and "kyabinet" -> "kbnt", "light" and "lait" -> "lt", "water" and "vatar" -> "btr").

Soundex and Metaphone are English-only: they keep "th" as a fricative and "v"/"w" apart, while
Bengali has no "v" (ভ is "bh") and Hindi व is either; aspirated stops (kh, gh, th, dh, bh) are one
sound in these languages and must meet the English unaspirated letter. Hence a key of our own.
"""

from __future__ import annotations

import re
from functools import lru_cache

from indic_transliteration import sanscript

BENGALI = "beng"
DEVANAGARI = "deva"
LATIN = "latn"

_BENGALI_RE = re.compile(r"[\u0980-\u09ff]")
_DEVANAGARI_RE = re.compile(r"[\u0900-\u097f]")
_INDIC_LETTER = r"[\u0900-\u097f\u0980-\u09ff]"
_VOWELS = "aeiouAEIOU"  # ITRANS vowels (and the "e" ै becomes)

# Independent vowels, vowel signs and signs that end a syllable: a word ending in none of these
# ends in a consonant whose inherent vowel is not pronounced ("लाइट" is "lait", not "laita").
_VOWEL_ENDINGS = frozenset(
    [chr(c) for c in range(0x0904, 0x0915)]
    + [chr(c) for c in range(0x093E, 0x094D)]
    + [chr(c) for c in range(0x0985, 0x0995)]
    + [chr(c) for c in range(0x09BE, 0x09CD)]
    + ["\u0902", "\u0903", "\u0982", "\u0983", "\u09ce"]
)
# ITRANS capitals and signs -> the plain letters a shopper types.
_ITRANS_PLAIN = (
    ("RRi", "ri"),
    ("~n", "n"),
    ("~N", "n"),
    (".N", ""),
    (".n", "n"),
    ("GY", "gy"),
    ("kSh", "ksh"),
    ("Sh", "sh"),
    ("H", ""),
    (".h", ""),
    ("^", ""),
)


def script_of(text: str) -> str:
    """``beng`` or ``deva`` when ``text`` has letters of that script (the one with more, when it
    has both: a brand in Latin letters does not make "कॉफ़ी मशीन Thermalux" English), else ``latn``."""
    counts = {
        BENGALI: len(_BENGALI_RE.findall(text)),
        DEVANAGARI: len(_DEVANAGARI_RE.findall(text)),
    }
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else LATIN


def is_indic(token: str) -> bool:
    return bool(re.search(_INDIC_LETTER, token))


@lru_cache(maxsize=65_536)
def romanize(word: str) -> str:
    """Lower-case Latin letters for one Bengali or Devanagari word; other text passes unchanged.

    Bengali ব and ভ are "b" (the language has no "v"); য় is "y"; a final inherent vowel is dropped.
    """
    script = script_of(word)
    if script == LATIN:
        return word
    # ॉ before ल is the "a" of "wall", "ball" (वॉल, बॉल); elsewhere the "o" of "box", "shop"
    source = word.replace("\u0949\u0932", "\u093e\u0932")
    source = source.replace("\u0949", "\u094b").replace("\u0911", "\u0913")
    source = source.replace("\u09bc", "").replace("\u093c", "")  # nukta: typists drop it too
    scheme = sanscript.BENGALI if script == BENGALI else sanscript.DEVANAGARI
    latin = sanscript.transliterate(source, scheme, sanscript.ITRANS)
    for old, new in _ITRANS_PLAIN:
        latin = latin.replace(old, new)
    latin = latin.replace("M", "ng" if script == BENGALI else "n")  # ং is "ng"; Hindi ं a nasal
    latin = re.sub(r"(?<![aA])ai", "a", latin)  # ै: the vowel of "bag", "cabinet" (बैग, कैबिनेट), not "Ai" (लाइट)
    # The inherent vowel (ITRANS "a") is not said at the end of a word, nor between a vowel and
    # consonant and a consonant and vowel ("जिप्सम" jipsam, not jipasama), nor before a last consonant.
    if word[-1] not in _VOWEL_ENDINGS and latin.endswith("a") and len(latin) > 2:
        latin = latin[:-1]
    latin = re.sub(rf"(?<=[{_VOWELS}][^{_VOWELS}])a(?=[^{_VOWELS}][{_VOWELS}])", "", latin)
    latin = re.sub(rf"(?<=[{_VOWELS}][^{_VOWELS}])a(?=[^{_VOWELS}]$)", "", latin)
    if script == BENGALI:
        # ওয়া is "wa"; the inherent vowel (ITRANS "a") is an "o" in Bengali, আ ("A") an "a"
        latin = re.sub(r"^[ae]yA", "A", latin)  # অ্যা / এ্যা: the vowel of "and", "adapter"
        latin = re.sub(r"(^|[aeiouAEIOU])oy(?=[aAeiIuU])", r"\1w", latin).replace("oy", "w")
        latin = re.sub(r"(?<=[bcdfghjklmnpqrstvyzDNST])u(?=[iIeEaA])", "w", latin)  # সুইচ switch
        latin = latin.replace("bh", "V")  # ভ writes English "v" (ভ্যানিটি vanity, ভোল্ট volt)
        latin = latin.replace("a", "o").replace("v", "b").replace("V", "v")
    latin = latin.lower()
    return re.sub(r"[^a-z]", "", latin)


_KEY_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"[^a-z]", ""),
        (r"tch", "ch"),
        (r"ch(?=[rl])", "k"),  # chrome, chlorine
        (r"sch$", "s"),  # bosch
        (r"igh", "i"),  # light, night: the English silent "gh"
        (r"ow$", "o"),  # pillow, window: no "w" said
        (r"ew$", "u"),  # screw, new: স্ক্রু, न्यू
        (r"ch(?=or)", "k"),  # anchor
        (r"gh(?=t|$)", ""),
        (r"ph", "f"),
        (r"ck", "k"),
        (r"q", "k"),
        (r"x", "ks"),
        (r"c(?=[eiy])", "s"),
        (r"g(?=e$|ine$)", "j"),  # engine, charge: इंजन, চার্জ
        (r"ch", "C"),  # the affricate, kept apart from k and s
        (r"sh", "s"),
        (r"c", "k"),
        (r"(?<=.)h", ""),  # aspiration and English digraph h: one sound in these languages
        (r"z", "j"),
        (r"[vw]", "b"),
        (r"(.)\1+", r"\1"),
        (r"(?<=.)[aeiouy]", ""),
        (r"^[aeiouy]", "a"),
    )
)


@lru_cache(maxsize=65_536)
def sound_key(word: str) -> str:
    """Consonant skeleton of a Latin word, shared by its English and romanised Indic spellings."""
    key = word.lower()
    for pattern, replacement in _KEY_RULES:
        key = pattern.sub(replacement, key)
    return key


_SHARED_SPELLING: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"[^a-z]", ""),
        (r"ph", "f"),
        (r"ck", "k"),
        (r"ch(?=[rl])", "k"),
        (r"c(?=[eiy])", "s"),
        (r"c(?!h)", "k"),
        (r"q", "k"),
        (r"x", "ks"),
        (r"g(?=e$|ine$)", "j"),
        (r"z", "j"),
        (r"v", "w"),  # व is either; Bengali writes v as ভ, romanised "v" (romanize)
        (r"(?<=[kgtdbjp])h", ""),
        (r"ee|ea|ie", "i"),
        (r"(.)\1+", r"\1"),
        (r"(?<=...)e$", ""),
        (r"y$", "i"),
        (r"(?<=.)[eo]r$", "ar"),
    )
)
# English spelling only: how Bengali and Hindi write these English vowels (রেইন / रेन for "rain",
# লাইট / लाइट for "light", ওক / ओक for "oak", টুল / टूल for "tool" but ডোর / डोर for "door").
_ENGLISH_SPELLING: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"a[iy]", "e"),
        (r"igh", "ai"),
        (r"gh$", ""),
        (r"ow$", "o"),
        (r"ew$", "u"),
        (r"ey$", "i"),  # pulley, valley
        (r"ch(?=or)", "k"),  # anchor
        (r"a(?=[^aeiou]l?e$)", "e"),  # tape, blade, cable: টেপ, ब्लेड, केबल
        (r"ui", "u"),  # suit, fruit
        (r"(?<![aeiou])u(?![aeiou]|ll|sh)", "a"),  # "nut", "bulb" (আ/ा), not "pull", "push"
        (r"oa", "o"),
        (r"ou", "au"),  # south, outdoor: साउथ, আউটডোর
        (r"oor", "or"),
        (r"oo", "u"),
    )
)


@lru_cache(maxsize=131_072)
def spelling_form(word: str, english: bool = False) -> str:
    """A word as it sounds, vowels kept: what English and romanised spellings are compared on
    ("bulb" and "balb", "roller" and "rolar", "light" and "lait" come out the same). ``english``
    reads English vowel spellings the way Bengali and Hindi transcribe them."""
    form = word.lower()
    if english:
        for pattern, replacement in _ENGLISH_SPELLING:
            form = pattern.sub(replacement, form)
    for pattern, replacement in _SHARED_SPELLING:
        form = pattern.sub(replacement, form)
    return form


# English letters as Bengali and Hindi speakers spell them out: acronyms and brand names are
# written letter by letter ("এলইডি" LED, "एलजी" LG, "এসি" AC).
_LETTER_NAMES: dict[str, str] = {
    # Bengali
    "এ": "a", "বি": "b", "সি": "c", "ডি": "d", "ই": "e", "এফ": "f", "জি": "g", "এইচ": "h",
    "আই": "i", "জে": "j", "কে": "k", "এল": "l", "এম": "m", "এন": "n", "ও": "o", "পি": "p",
    "কিউ": "q", "আর": "r", "এস": "s", "টি": "t", "ইউ": "u", "ভি": "v", "ডব্লিউ": "w",
    "ডাব্লিউ": "w", "এক্স": "x", "ওয়াই": "y", "জেড": "z",
    # Devanagari
    "ए": "a", "बी": "b", "सी": "c", "डी": "d", "ई": "e", "एफ": "f", "जी": "g", "एच": "h",
    "आई": "i", "जे": "j", "के": "k", "एल": "l", "एम": "m", "एन": "n", "ओ": "o", "पी": "p",
    "क्यू": "q", "आर": "r", "एस": "s", "टी": "t", "यू": "u", "वी": "v", "डब्ल्यू": "w",
    "एक्स": "x", "वाई": "y", "ज़ेड": "z", "जेड": "z",
}  # fmt: skip
_LETTER_NAMES = {k.replace("\u09bc", "").replace("\u093c", ""): v for k, v in _LETTER_NAMES.items()}
_LONGEST_NAME = max(len(k) for k in _LETTER_NAMES)


@lru_cache(maxsize=16_384)
def spelled_letters(word: str, min_letters: int = 2) -> str | None:
    """The acronym a word spells letter by letter ("এলইডি" -> "led"), or None when it does not."""
    out: list[str] = []
    i = 0
    while i < len(word):
        for size in range(min(_LONGEST_NAME, len(word) - i), 0, -1):
            letter = _LETTER_NAMES.get(word[i : i + size])
            if letter is not None:
                out.append(letter)
                i += size
                break
        else:
            return None
    return "".join(out) if len(out) >= min_letters else None
