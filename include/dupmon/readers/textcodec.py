"""Decoding of text exports: UTF-8 with or without a BOM, else Windows-1251."""

from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)


def decode_text(data: bytes, *, strict: bool = True) -> str:
    """Decode an export's bytes.

    A BOM wins, then a charset named in an HTML ``<meta>`` tag, then UTF-8,
    then Windows-1251 (the charset of Russian Excel's CSV). ``strict=False``
    replaces bytes that fit neither, for peeking at the format.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", "strict" if strict else "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "strict" if strict else "replace")

    meta = _META_CHARSET.search(data[:4096])
    if meta:
        try:
            return data.decode(meta.group(1).decode("ascii"), "strict" if strict else "replace")
        except (LookupError, UnicodeDecodeError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1251", "strict" if strict else "replace")
