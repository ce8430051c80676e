"""Names written in punycode (``xn--80ak6aa92e.com``), decoded for the approver to read.

A browser or mail client shows an ``xn--`` label as the Unicode it encodes (``аррӏе.com``): an
approver shown only the ASCII form cannot tell what the name is, and the display's script
checks, which read letters, find none in it. Decoding never raises: a label that is not
punycode (bad digits, longer than DNS allows, decoding to nothing or to ASCII only, which no
IDNA name does) makes its name reported as not decodable, shown as written.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

__all__ = ["NAME", "Punycode", "punycode_names"]

# a name: a host, an address's domain, a file name; it ends at whitespace or at ASCII punctuation
# other than the dot and hyphen of a host name (a URL's "@", ":" and "/" end it)
NAME = re.compile(r"[^\t\n\v\f\r !-,/:-@\[-`{-~]+")
_ACE = re.compile(r"xn--", re.IGNORECASE)
_MAX_LABEL = 63  # the longest DNS label; nothing longer is decoded


class Punycode(NamedTuple):
    """A name with ``xn--`` labels as written, and decoded (None: a label is not punycode)."""

    name: str
    decoded: str | None


def punycode_names(text: str) -> list[Punycode]:
    """Each distinct name in ``text`` with a label that starts with ``xn--`` (any case), in
    the order met."""
    if not _ACE.search(text):
        return []
    found: dict[str, str | None] = {}
    for name in NAME.findall(text):
        if name not in found and _ACE.search(name):
            labels = name.split(".")
            if any(label[:4].lower() == "xn--" for label in labels):
                decoded = [_decode(label) for label in labels]
                whole = all(label is not None for label in decoded)
                found[name] = ".".join(d or "" for d in decoded) if whole else None
    return [Punycode(name, decoded) for name, decoded in found.items()]


@functools.lru_cache(maxsize=1024)
def _decode(label: str) -> str | None:
    if label[:4].lower() != "xn--":
        return label
    if len(label) > _MAX_LABEL or not label.isascii():
        return None
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:  # the codec's only error for bad digits or an overflowing number
        return None
    return decoded if decoded and not decoded.isascii() else None
