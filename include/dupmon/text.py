"""Text clean-up shared by the readers, the directory and the pair keys.

Two forms exist for every name: the display form keeps what the export
printed (only invisible characters and runs of spaces are tidied), and the
match key folds every variation the school system is known to produce so
that two spellings of one school or municipality compare equal.
"""

from __future__ import annotations

import re
import unicodedata

# Latin letters that look like Cyrillic ones and slip into Cyrillic words
# when a name is typed on a mixed keyboard layout.
_LATIN_LOOKALIKES = str.maketrans(
    {
        "a": "а",
        "c": "с",
        "e": "е",
        "o": "о",
        "p": "р",
        "x": "х",
        "y": "у",
        "k": "к",
        "m": "м",
        "t": "т",
        "h": "н",
        "b": "в",
    }
)
# Invisible characters, and the C0 control characters that are not
# whitespace (XML, and so DOCX, cannot hold them).
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad" + "".join(
    chr(c) for c in range(32) if chr(c) not in "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"
)
_ZERO_WIDTH = dict.fromkeys(map(ord, _INVISIBLE), None)
_SPACES = re.compile(r"[\s\u00a0\u2007\u202f]+")
_QUOTES = re.compile(r"[\"'«»„“”‟‘’`]")
_DASHES = re.compile(r"\s*[-‐‑‒–—―]\s*")
_NUMBER_SIGN = re.compile(r"№\s*")
_CYRILLIC = re.compile(r"[а-яё]")


# Anything clean_display would change: a run of spaces, a space other than
# U+0020, a space at either end, or an invisible character.
_UNTIDY = re.compile(r"\s\s|[^\S ]|^\s|\s$|[" + re.escape(_INVISIBLE) + "]")


def clean_display(value: object) -> str:
    """Return the display form: invisible characters removed, spaces collapsed."""
    if value is None:
        return ""
    text = str(value)
    # Most cells are already tidy; checking first is several times faster.
    if _UNTIDY.search(text) is None and unicodedata.is_normalized("NFC", text):
        return text
    text = unicodedata.normalize("NFC", text).translate(_ZERO_WIDTH)
    return _SPACES.sub(" ", text).strip()


def _fold_lookalikes(word: str) -> str:
    # Only words that already contain Cyrillic letters are folded, so a Latin
    # abbreviation such as "MAOU" typed on purpose is left alone.
    if _CYRILLIC.search(word):
        return word.translate(_LATIN_LOOKALIKES)
    return word


def match_key(value: object) -> str:
    """Return the form used to compare names.

    Folds letter case, ё/е, Latin look-alike letters, quote styles, spaces
    around dashes, «№ 8» / «№8» and non-breaking or zero-width spaces.
    """
    text = clean_display(value).lower().replace("ё", "е")
    text = _QUOTES.sub("", text)
    text = _DASHES.sub("-", text)
    text = _NUMBER_SIGN.sub("№", text)
    text = " ".join(_fold_lookalikes(word) for word in text.split(" "))
    return _SPACES.sub(" ", text).strip()
