"""Bengali and Hindi queries, in their scripts or typed in Latin letters, rendered in the catalog's
English before query understanding runs.

The catalogs these retailers sell from are mostly in English, and so are the encoder and the
parser's vocabularies. A shopper's "সাদা ৩৬ ইঞ্চি ক্যাবিনেট", "सफेद पेंट" or "sada rong er paint"
becomes "white 36 in cabinet", "white paint", "white paint" through, per word:

1. the retail lexicon (``data/indic_lexicon.tsv``: product types, materials, colours, units,
   recipients, numbers as words, grammar to drop), in script or Latin letters, inflected forms
   found by stripping Bengali and Hindi case endings;
2. for script words the lexicon lacks (loanwords and brands: লাইট, पेंट, স্যামসাং), the catalog word
   that sounds the same (``indic.sound_key`` over ``indic.romanize``), the closest spelling first;
3. acronyms spelled letter by letter (এলইডি -> led);
4. price phrases with their bound after the number ("৫০০ টাকার নিচে", "500 rupaye se kam") as
   "under 500", which the parser reads.

English stays as typed: a Latin word the catalog knows is never translated, and a Latin word is
read as romanised Bengali or Hindi only when the lexicon knows it. What no step maps stays in the
query, so a catalog that carries titles in Bengali or Hindi still matches it.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from models.query.indic import (
    BENGALI,
    DEVANAGARI,
    LATIN,
    is_indic,
    romanize,
    script_of,
    sound_key,
    spelled_letters,
    spelling_form,
)
from models.query.parser import QueryParser
from models.text import STOPWORDS, normalize

LEXICON_PATH = Path(__file__).with_name("data") / "indic_lexicon.tsv"
_FILE = "translator.json"
DROP = "-"
FOR = "for"

# Case endings and plural/classifier suffixes, longest first; a Hindi oblique "-े/-ों" stem may
# also need its direct "-ा" back (दरवाजे -> दरवाजा).
_BENGALI_SUFFIXES = (
    "গুলোর",
    "গুলো",
    "গুলি",
    "দের",
    "য়ের",
    "টার",
    "টির",
    "ের",
    "এর",
    "তে",
    "কে",
    "টি",
    "টা",
    "র",
    "য়",
    "ে",
)
_BENGALI_GENITIVE = ("গুলোর", "গুলো", "দের", "য়ের", "ের", "এর")
_HINDI_SUFFIXES = ("ियों", "ियां", "ाओं", "ों", "ें", "ीं", "े", "ी", "ा")
_LATIN_SUFFIXES = ("gulo", "der", "er", "te", "ke", "on", "en", "r", "e", "o")
# Latin words that mark a query as romanised Bengali or Hindi (grammar no English query has).
_BENGALI_MARKERS = frozenset(
    "er theke jonno diye gulo ekta rong ranger kore korar takar taka kom beshi moddhe jonne".split()
)
_HINDI_MARKERS = frozenset(
    "ka ki ke ko wala wali wale vala vali vale liye aur mein se rupaye rupay kam zyada andar".split()
)

_NUM = r"\d+(?:[.,]\d+)?"
_CURRENCY = r"(?:৳|₹|টাকা(?:র|য়|য)?|tk|taka(?:r)?|rupe+s?|rupaye|rupay|rupiya|rs\.?|रुपये|रुपए|रुपया|रु\.?)"
_GLUE = r"(?:এর|er|r|ke|के|से|se|ka|का)"
_MAX_WORDS = (
    r"(?:নিচে|নীচে|কমে|কম|মধ্যে|ভিতরে|ভেতরে|পর্যন্ত|niche|nichey|kome|kom|moddhe|modhye|porjonto|"
    r"kam|andar|tak|कम|अंदर|अन्दर|तक|नीचे)"
)
_MIN_WORDS = r"(?:বেশি|বেশী|উপরে|ওপরে|beshi|besi|upore|opore|zyada|jyada|jada|adhik|upar|ज्यादा|अधिक|ऊपर)"
_B = r"(?<![\w\u0900-\u09ff])"
_E = r"(?![\w\u0900-\u09ff])"
_PRICE_RES = (
    (
        re.compile(rf"{_B}(?:{_CURRENCY}\s*)?({_NUM})\s*(?:{_CURRENCY}\s*)?(?:{_GLUE}\s+)?{_MAX_WORDS}{_E}"),
        r"under \1",
    ),
    (
        re.compile(rf"{_B}(?:{_CURRENCY}\s*)?({_NUM})\s*(?:{_CURRENCY}\s*)?(?:{_GLUE}\s+)?{_MIN_WORDS}{_E}"),
        r"over \1",
    ),
    (re.compile(rf"{_B}(?:৳|₹)\s*({_NUM}){_E}"), r"\1 taka"),
    (re.compile(rf"{_B}({_NUM})\s*{_CURRENCY}{_E}"), r"\1 taka"),
)
_JOIN = "\u00b7"  # joins the words of a lexicon phrase into one token
_WORD_RE = re.compile(r"\d+(?:[./]\d+)*[a-z]*|[^\s\-_,;:!?()\[\]{}\"'*+]+")
_LATIN_WORD_RE = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Concept:
    """One lexicon line: the English words it may render as, and the chosen one once fitted."""

    english: tuple[str, ...]
    bengali: tuple[str, ...]
    hindi: tuple[str, ...]
    latin: tuple[str, ...]

    @property
    def drop(self) -> bool:
        return self.english == (DROP,)


@lru_cache(maxsize=1)
def load_lexicon(path: Path = LEXICON_PATH) -> tuple[Concept, ...]:
    """The retail lexicon as concepts (comments and blank lines skipped; spellings normalised)."""
    concepts: list[Concept] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        english, bengali, hindi, latin = line.split("\t")

        def split(cell: str) -> tuple[str, ...]:
            return tuple(dict.fromkeys(normalize(v) for v in cell.split("|") if v.strip()))

        concepts.append(Concept(tuple(english.split("|")), split(bengali), split(hindi), split(latin)))
    return tuple(concepts)


@dataclass(frozen=True)
class Translation:
    """A query as retrieval should read it."""

    text: str  # English rendering (the query itself, normalised, when nothing was translated)
    language: str  # en | bn | hi | bn-Latn | hi-Latn
    kept: str = ""  # the query as typed, when a script word was not translated: BM25 matches it
    native: str = ""  # the query as typed, when it has script words: the category classifier reads it

    @property
    def translated(self) -> bool:
        return self.language != "en"


def _strip(word: str, suffixes: Iterable[str]) -> list[str]:
    """Stems of ``word`` with one suffix removed, longest suffix first (stems of 2+ letters)."""
    return [word[: -len(s)] for s in suffixes if word.endswith(s) and len(word) - len(s) >= 2]


class QueryTranslator:
    """Bengali/Hindi (script or romanised) -> the catalog's English words; ``fit`` on the catalog's
    word counts, ``translate`` per query (cached per word, a few microseconds once warm)."""

    def __init__(self, min_similarity: float = 60.0, min_key_length: int = 2) -> None:
        self.min_similarity = min_similarity
        self.min_key_length = min_key_length

    # --- fitting -------------------------------------------------------------------------------
    def fit(self, vocabulary: Mapping[str, int]) -> QueryTranslator:
        """``vocabulary``: the catalog's Latin words with their counts (titles, brands, categories)."""
        self.vocabulary_: dict[str, int] = {w: int(n) for w, n in vocabulary.items() if w}
        self._index()
        return self

    @staticmethod
    def catalog_vocabulary(texts: Iterable[str]) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_LATIN_WORD_RE.findall(normalize(text)))
        return dict(counts.most_common())

    def _render(self, concept: Concept) -> str:
        """The English variant the catalog uses most (a phrase counts by its rarest word)."""
        if concept.drop or len(concept.english) == 1:
            return concept.english[0]

        def usage(phrase: str) -> int:
            return min(self.vocabulary_.get(w, 0) for w in phrase.split())

        return max(concept.english, key=lambda p: (usage(p), -concept.english.index(p)))

    def _index(self) -> None:
        self._native: dict[str, str] = {}
        self._latin: dict[str, str] = {}
        phrases: set[str] = set()
        # words the parser reads itself ("under", "for", "size", "para"): never taken for Bengali/Hindi
        self._protected = {w for w in QueryParser._closed_class_words() if w.isascii()} | {"taka", "over"}
        # how each language's own words come out in Latin letters ("kalo" is Bengali, "kala" Hindi)
        self._said = {
            "bn": {romanize(w) for c in load_lexicon() for w in c.bengali if " " not in w},
            "hi": {romanize(w) for c in load_lexicon() for w in c.hindi if " " not in w},
        }
        native_keys: dict[str, set[str]] = {}
        latin_keys: dict[str, set[str]] = {}
        self._latin_forms: dict[str, list[str]] = {}  # sound key -> romanised forms seen
        for concept in load_lexicon():
            rendering = self._render(concept)
            for word in (*concept.bengali, *concept.hindi, *concept.latin):
                if " " in word:  # "গাঢ় নীল", "कचरा डिब्बा": matched as one word, longest first
                    phrases.add(word)
                    word = word.replace(" ", _JOIN)
                    (self._latin if word.replace(_JOIN, "").isascii() else self._native).setdefault(
                        word, rendering
                    )
            for word in (*concept.bengali, *concept.hindi):
                if " " in word:
                    continue
                self._native.setdefault(word, rendering)
                key = sound_key(romanize(word))
                native_keys.setdefault(key, set()).add(rendering)
                self._latin_forms.setdefault(key, []).append(romanize(word))
            for word in concept.latin:
                if " " in word:
                    continue
                self._latin.setdefault(word, rendering)
                latin_keys.setdefault(sound_key(word), set()).add(rendering)
                self._latin_forms.setdefault(sound_key(word), []).append(word)
        # a sound shared by two concepts says nothing: only unambiguous keys are kept
        merged: dict[str, set[str]] = {}
        for keys in (native_keys, latin_keys):
            for key, renderings in keys.items():
                merged.setdefault(key, set()).update(renderings)
        self._phrases = (
            re.compile(
                rf"{_B}(?:{'|'.join(re.escape(p) for p in sorted(phrases, key=lambda p: (-len(p), p)))}){_E}"
            )
            if phrases
            else None
        )
        self._lexicon_keys = {
            k: next(iter(v)) for k, v in merged.items() if len(v) == 1 and len(k) >= self.min_key_length
        }
        # each catalog word under its sound, and a plural also under its singular's ("boots" is
        # what "बूट" says): per key the spellings compared, the words returned and a frequency bonus
        grouped: dict[str, list[tuple[str, str, int]]] = {}
        for word, count in self.vocabulary_.items():
            if len(word) >= 3 and word.isalpha() and word.isascii():
                grouped.setdefault(sound_key(word), []).append((word, word, count))
                if word.endswith("s") and len(word) >= 5 and not word.endswith("ss"):
                    grouped.setdefault(sound_key(word[:-1]), []).append((word[:-1], word, count))
        self._catalog_keys: dict[str, tuple[list[str], list[str], np.ndarray]] = {
            key: (
                [spelling_form(spelt, english=True) for spelt, _, _ in entries],
                [word for _, word, _ in entries],
                np.array([8.0 * math.log10(1 + count) for _, _, count in entries]),
            )
            for key, entries in grouped.items()
        }
        self._cache: dict[str, tuple[str | None, bool]] = {}  # script word -> (English, found)

    # --- words ---------------------------------------------------------------------------------
    def _by_sound(self, latin: str) -> tuple[str | None, float]:
        """The catalog word that sounds like ``latin`` (a romanised script word) and how alike
        their spellings are (0-100, plus a little for a word the catalog uses often)."""
        key = sound_key(latin)
        if len(key) < self.min_key_length:
            return None, 0.0
        entry = self._catalog_keys.get(key)
        if entry is None:
            return None, 0.0
        forms, words, bonus = entry
        similarity = process.cdist([spelling_form(latin)], forms, scorer=fuzz.ratio, workers=1)[0]
        score = np.where(similarity >= self.min_similarity, similarity + bonus, -1.0)
        best = int(np.argmax(score))
        return (words[best], float(score[best])) if score[best] >= 0 else (None, 0.0)

    def _lexicon_by_sound(self, latin: str) -> str | None:
        key = sound_key(latin)
        rendering = self._lexicon_keys.get(key)
        if rendering is None:
            return None
        forms = self._latin_forms.get(key, ())
        if max((fuzz.ratio(latin, f) for f in forms), default=0.0) < 70.0:
            return None
        return rendering

    def _script_word(self, word: str) -> str | None:
        """English for a Bengali/Devanagari word; None when nothing maps it (cached per word: the
        words shoppers type repeat, and a sound match costs tens of microseconds)."""
        if word in self._cache:
            return self._cache[word][0]
        found = self._script_word_uncached(word)
        if len(self._cache) < 200_000:
            self._cache[word] = (found, True)
        return found

    def _script_word_uncached(self, word: str) -> str | None:
        hit = self._native.get(word)
        if hit is not None:
            return hit
        glued = re.fullmatch(r"(\D+?)(\d+(?:[./]\d+)*)", word)  # "জি40", "এম6": a letter and a number
        if glued is not None:
            head = spelled_letters(glued.group(1), min_letters=1) or self._script_word(glued.group(1))
            return f"{head}{glued.group(2)}" if head and head != DROP else glued.group(2)
        suffixes = _BENGALI_SUFFIXES if script_of(word) == BENGALI else _HINDI_SUFFIXES
        stripped = [(normalize(s), len(s)) for s in suffixes if word.endswith(normalize(s))]
        stems = [word[:-n] for s, n in stripped if len(word) - n >= 2]
        one_letter = {word[:-n] for s, n in stripped if n == 1}
        if script_of(word) == DEVANAGARI:
            stems += [s + "ा" for s in stems]
        for stem in stems:
            hit = self._native.get(stem)
            if hit is not None and hit != DROP:  # a stem that is grammar is not what the word means
                return hit
        acronym = spelled_letters(word)
        if acronym is not None and (acronym in self.vocabulary_ or acronym in self._latin):
            return self._latin.get(acronym, acronym)
        best, best_score = None, 0.0
        genitive = word.endswith(tuple(normalize(s) for s in _BENGALI_GENITIVE))
        for i, candidate in enumerate((word, *stems)):
            found, score = self._by_sound(romanize(candidate))
            # English "-er" is written "-ার" (the whole word: ডেকার decker), the Bengali genitive
            # "-ের" (a stem: পাইপের, of a pipe)
            score += (0.0 if genitive else 3.0) if i == 0 else (6.0 if genitive else 0.0)
            score -= 5.0 if candidate in one_letter else 0.0  # "র" after a vowel is rarely a case ending
            if found is not None and score > best_score:
                best, best_score = found, score
        if best is not None:
            return best
        return self._lexicon_by_sound(romanize(word))

    def _latin_word(self, word: str, by_sound: bool = True) -> tuple[str | None, bool]:
        """(English, is it romanised Indic) for a Latin word the catalog does not know; by sound
        only in a query already known to be romanised Bengali/Hindi (an English typo, "runing",
        must reach the spelling corrector, not a lexicon word that sounds like it)."""
        hit = self._latin.get(word)
        if hit is not None:
            return hit, True
        for stem in _strip(word, _LATIN_SUFFIXES):
            if stem in self.vocabulary_ and len(stem) >= 3:
                return stem, False  # "galloner" -> gallon; an English "painter" says nothing of language
            hit = self._latin.get(stem)
            if hit is not None:
                return hit, True
        hit = self._lexicon_by_sound(word) if by_sound else None
        return (hit, True) if hit is not None else (None, False)

    def _romanised_loanword(self, word: str) -> str:
        """In a romanised Bengali/Hindi query, an unknown Latin word may be an English word spelt as
        it is said ("katar" cutter, "tul" stool): the catalog word that sounds like it, if close."""
        if word in self.vocabulary_ or not word.isalpha() or not word.isascii():
            return word
        found, score = self._by_sound(word)
        return found if found is not None and score >= 75.0 else word

    # --- queries -------------------------------------------------------------------------------
    def translate(self, query: str) -> Translation:
        self._check_fitted()
        text = normalize(query)
        script = script_of(text)
        typed = _LATIN_WORD_RE.findall(text)
        markers = {
            "bn": sum(w in _BENGALI_MARKERS for w in typed),
            "hi": sum(w in _HINDI_MARKERS for w in typed),
        }
        for pattern, replacement in _PRICE_RES:
            text = pattern.sub(replacement, text)
        if self._phrases is not None:
            text = self._phrases.sub(lambda m: m.group(0).replace(" ", _JOIN), text)
        out: list[str] = []
        kept: list[str] = []
        indic_latin = 0
        # romanised Bengali/Hindi for sure: a grammar word, or a word the lexicon has as written
        romanised = bool(markers["bn"] + markers["hi"]) or any(
            w not in self.vocabulary_ and (self._latin_word(w, by_sound=False)[1]) for w in typed
        )
        unknown: set[str] = set()  # Latin words no lexicon knows: maybe English spelt as said
        any_script = False
        for word in _WORD_RE.findall(text):
            if is_indic(word):
                any_script = True
                rendering = self._script_word(word)
                if rendering is None:  # matched as typed by BM25 only: noise to an English encoder
                    kept.append(word)
                    continue
            elif _JOIN in word:  # a romanised lexicon phrase ("gehra·neela")
                rendering, indic_latin = self._latin.get(word, word), indic_latin + 1
            elif (
                word in self.vocabulary_ or word in STOPWORDS or word in self._protected or not word.isalpha()
            ):
                out.append(word)
                continue
            else:
                rendering, indic = self._latin_word(word, by_sound=romanised)
                if rendering is None:
                    unknown.add(word)
                    out.append(word)
                    continue
                indic_latin += indic
            if rendering == DROP:
                continue
            if rendering == FOR and out:
                out.insert(len(out) - 1, FOR)  # a postposition: "বাবার জন্য" -> "for dad"
                continue
            out.append(rendering)
        if any_script or script != LATIN:
            language = "bn" if script == BENGALI else "hi" if script == DEVANAGARI else "en"
        elif indic_latin or markers["bn"] + markers["hi"]:
            for w in typed:
                if w not in self.vocabulary_:
                    markers["bn"] += w in self._said["bn"]
                    markers["hi"] += w in self._said["hi"]
            language = "bn-Latn" if markers["bn"] > markers["hi"] else "hi-Latn"
            # grammar words the catalog happens to know ("ke", "se") are still grammar here
            drops = {w for w, r in self._latin.items() if r == DROP}
            out = [self._romanised_loanword(w) if w in unknown else w for w in out if w not in drops]
        else:
            return Translation(text=normalize(query), language="en")
        typed_text = normalize(query)
        return Translation(
            text=" ".join(out),
            language=language,
            kept=typed_text if kept else "",  # all translated: the script words again only add noise
            native=typed_text if any_script else "",
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "vocabulary_"):
            raise RuntimeError("QueryTranslator is not fitted: call fit() or load() first")

    # --- persistence ---------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        self._check_fitted()
        path = Path(directory) / _FILE
        path.write_text(
            json.dumps(
                {"min_similarity": self.min_similarity, "min_key_length": self.min_key_length}
                | {"vocabulary": self.vocabulary_},
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        return path

    @classmethod
    def load(cls, directory: str | Path) -> QueryTranslator:
        state = json.loads((Path(directory) / _FILE).read_text(encoding="utf-8"))
        return cls(state["min_similarity"], state["min_key_length"]).fit(state["vocabulary"])

    @staticmethod
    def saved_in(directory: str | Path) -> bool:
        return (Path(directory) / _FILE).is_file()
