"""Letters of other scripts that pass for Latin ones, as data: the approval display flags a
name written only in them (``аррӏе.com``, every letter Cyrillic), which no script mix reveals.

Derived from Unicode's confusables.txt (UTS #39, Unicode Security Mechanisms, version 8.0.0):
its lines whose source is a letter of one of these scripts and whose target is one ASCII letter
(``0430 ; 0061 ; MA # CYRILLIC SMALL LETTER A → LATIN SMALL LETTER A``), written out here by
hand; the value is that target. Chosen letter by letter, so that ordinary words stay unflagged:
left out are lowercase letters that confusables.txt maps to a Latin letter but whose usual glyph
reads as its own script, and which common words are made of (Russian "по", "его", Greek "να",
"για", "και"): Cyrillic к т (small capitals), п г ц; Greek κ ϰ τ π ϖ ᴨ σ ν γ ᴦ and the iota
subscript ͺ; Armenian ռ ք; Coptic ⲅ. Capitals stay: theirs are the Latin glyphs.
A name missed for that (``ореп`` with a Cyrillic п) is the price of not flagging Russian prose.

Keyed by the script's name as the display shows it; ``tests/escalation/test_confusables.py``
checks every entry against the Unicode database.
"""

from __future__ import annotations

__all__ = ["LATIN_LOOKALIKES"]

LATIN_LOOKALIKES: dict[str, dict[str, str]] = {
    "Cyrillic": {
        "\u0405": "S",  # CYRILLIC CAPITAL LETTER DZE
        "\u0406": "l",  # CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I
        "\u0408": "J",  # CYRILLIC CAPITAL LETTER JE
        "\u0410": "A",  # CYRILLIC CAPITAL LETTER A
        "\u0412": "B",  # CYRILLIC CAPITAL LETTER VE
        "\u0415": "E",  # CYRILLIC CAPITAL LETTER IE
        "\u041a": "K",  # CYRILLIC CAPITAL LETTER KA
        "\u041c": "M",  # CYRILLIC CAPITAL LETTER EM
        "\u041d": "H",  # CYRILLIC CAPITAL LETTER EN
        "\u041e": "O",  # CYRILLIC CAPITAL LETTER O
        "\u0420": "P",  # CYRILLIC CAPITAL LETTER ER
        "\u0421": "C",  # CYRILLIC CAPITAL LETTER ES
        "\u0422": "T",  # CYRILLIC CAPITAL LETTER TE
        "\u0425": "X",  # CYRILLIC CAPITAL LETTER HA
        "\u042c": "b",  # CYRILLIC CAPITAL LETTER SOFT SIGN
        "\u0430": "a",  # CYRILLIC SMALL LETTER A
        "\u0435": "e",  # CYRILLIC SMALL LETTER IE
        "\u043e": "o",  # CYRILLIC SMALL LETTER O
        "\u0440": "p",  # CYRILLIC SMALL LETTER ER
        "\u0441": "c",  # CYRILLIC SMALL LETTER ES
        "\u0443": "y",  # CYRILLIC SMALL LETTER U
        "\u0445": "x",  # CYRILLIC SMALL LETTER HA
        "\u0455": "s",  # CYRILLIC SMALL LETTER DZE
        "\u0456": "i",  # CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I
        "\u0458": "j",  # CYRILLIC SMALL LETTER JE
        "\u0474": "V",  # CYRILLIC CAPITAL LETTER IZHITSA
        "\u0475": "v",  # CYRILLIC SMALL LETTER IZHITSA
        "\u04ae": "Y",  # CYRILLIC CAPITAL LETTER STRAIGHT U
        "\u04af": "y",  # CYRILLIC SMALL LETTER STRAIGHT U
        "\u04bb": "h",  # CYRILLIC SMALL LETTER SHHA
        "\u04bd": "e",  # CYRILLIC SMALL LETTER ABKHASIAN CHE
        "\u04c0": "l",  # CYRILLIC LETTER PALOCHKA
        "\u04cf": "i",  # CYRILLIC SMALL LETTER PALOCHKA
        "\u0501": "d",  # CYRILLIC SMALL LETTER KOMI DE
        "\u050c": "G",  # CYRILLIC CAPITAL LETTER KOMI SJE
        "\u051b": "q",  # CYRILLIC SMALL LETTER QA
        "\u051c": "W",  # CYRILLIC CAPITAL LETTER WE
        "\ua647": "i",  # CYRILLIC SMALL LETTER IOTA
    },
    "Greek": {
        "\u037f": "J",  # GREEK CAPITAL LETTER YOT
        "\u0391": "A",  # GREEK CAPITAL LETTER ALPHA
        "\u0392": "B",  # GREEK CAPITAL LETTER BETA
        "\u0395": "E",  # GREEK CAPITAL LETTER EPSILON
        "\u0396": "Z",  # GREEK CAPITAL LETTER ZETA
        "\u0397": "H",  # GREEK CAPITAL LETTER ETA
        "\u0399": "l",  # GREEK CAPITAL LETTER IOTA
        "\u039a": "K",  # GREEK CAPITAL LETTER KAPPA
        "\u039c": "M",  # GREEK CAPITAL LETTER MU
        "\u039d": "N",  # GREEK CAPITAL LETTER NU
        "\u039f": "O",  # GREEK CAPITAL LETTER OMICRON
        "\u03a1": "P",  # GREEK CAPITAL LETTER RHO
        "\u03a4": "T",  # GREEK CAPITAL LETTER TAU
        "\u03a5": "Y",  # GREEK CAPITAL LETTER UPSILON
        "\u03a7": "X",  # GREEK CAPITAL LETTER CHI
        "\u03b1": "a",  # GREEK SMALL LETTER ALPHA
        "\u03b9": "i",  # GREEK SMALL LETTER IOTA
        "\u03bf": "o",  # GREEK SMALL LETTER OMICRON
        "\u03c1": "p",  # GREEK SMALL LETTER RHO
        "\u03c5": "u",  # GREEK SMALL LETTER UPSILON
        "\u03d2": "Y",  # GREEK UPSILON WITH HOOK SYMBOL
        "\u03dc": "F",  # GREEK LETTER DIGAMMA
        "\u03f1": "p",  # GREEK RHO SYMBOL
        "\u03f2": "c",  # GREEK LUNATE SIGMA SYMBOL
        "\u03f3": "j",  # GREEK LETTER YOT
        "\u03f9": "C",  # GREEK CAPITAL LUNATE SIGMA SYMBOL
        "\u03fa": "M",  # GREEK CAPITAL LETTER SAN
        "\u1fbe": "i",  # GREEK PROSGEGRAMMENI
    },
    "Armenian": {
        "\u054d": "U",  # ARMENIAN CAPITAL LETTER SEH
        "\u054f": "S",  # ARMENIAN CAPITAL LETTER TIWN
        "\u0555": "O",  # ARMENIAN CAPITAL LETTER OH
        "\u0563": "q",  # ARMENIAN SMALL LETTER GIM
        "\u0566": "q",  # ARMENIAN SMALL LETTER ZA
        "\u0570": "h",  # ARMENIAN SMALL LETTER HO
        "\u0578": "n",  # ARMENIAN SMALL LETTER VO
        "\u057d": "u",  # ARMENIAN SMALL LETTER SEH
        "\u0581": "g",  # ARMENIAN SMALL LETTER CO
        "\u0585": "o",  # ARMENIAN SMALL LETTER OH
    },
    "Cherokee": {
        "\u13a0": "D",  # CHEROKEE LETTER A
        "\u13a1": "R",  # CHEROKEE LETTER E
        "\u13a2": "T",  # CHEROKEE LETTER I
        "\u13a5": "i",  # CHEROKEE LETTER V
        "\u13a9": "Y",  # CHEROKEE LETTER GI
        "\u13aa": "A",  # CHEROKEE LETTER GO
        "\u13ab": "J",  # CHEROKEE LETTER GU
        "\u13ac": "E",  # CHEROKEE LETTER GV
        "\u13b3": "W",  # CHEROKEE LETTER LA
        "\u13b7": "M",  # CHEROKEE LETTER LU
        "\u13bb": "H",  # CHEROKEE LETTER MI
        "\u13bd": "Y",  # CHEROKEE LETTER MU
        "\u13c0": "G",  # CHEROKEE LETTER NAH
        "\u13c2": "h",  # CHEROKEE LETTER NI
        "\u13c3": "Z",  # CHEROKEE LETTER NO
        "\u13cf": "b",  # CHEROKEE LETTER SI
        "\u13d2": "R",  # CHEROKEE LETTER SV
        "\u13d4": "W",  # CHEROKEE LETTER TA
        "\u13d5": "S",  # CHEROKEE LETTER DE
        "\u13d9": "V",  # CHEROKEE LETTER DO
        "\u13da": "S",  # CHEROKEE LETTER DU
        "\u13de": "L",  # CHEROKEE LETTER TLE
        "\u13df": "C",  # CHEROKEE LETTER TLI
        "\u13e2": "P",  # CHEROKEE LETTER TLV
        "\u13e6": "K",  # CHEROKEE LETTER TSO
        "\u13e7": "d",  # CHEROKEE LETTER TSU
        "\u13f3": "G",  # CHEROKEE LETTER YU
        "\u13f4": "B",  # CHEROKEE LETTER YV
    },
    "Coptic": {
        "\u2c8e": "H",  # COPTIC CAPITAL LETTER HATE
        "\u2c92": "l",  # COPTIC CAPITAL LETTER IAUDA
        "\u2c94": "K",  # COPTIC CAPITAL LETTER KAPA
        "\u2c95": "k",  # COPTIC SMALL LETTER KAPA
        "\u2c98": "M",  # COPTIC CAPITAL LETTER MI
        "\u2c9a": "N",  # COPTIC CAPITAL LETTER NI
        "\u2c9e": "O",  # COPTIC CAPITAL LETTER O
        "\u2c9f": "o",  # COPTIC SMALL LETTER O
        "\u2ca2": "P",  # COPTIC CAPITAL LETTER RO
        "\u2ca3": "p",  # COPTIC SMALL LETTER RO
        "\u2ca4": "C",  # COPTIC CAPITAL LETTER SIMA
        "\u2ca5": "c",  # COPTIC SMALL LETTER SIMA
        "\u2ca6": "T",  # COPTIC CAPITAL LETTER TAU
        "\u2ca8": "Y",  # COPTIC CAPITAL LETTER UA
        "\u2cac": "X",  # COPTIC CAPITAL LETTER KHI
        "\u2cd0": "L",  # COPTIC CAPITAL LETTER L-SHAPED HA
    },
    "Lisu": {
        "\ua4d0": "B",  # LISU LETTER BA
        "\ua4d1": "P",  # LISU LETTER PA
        "\ua4d2": "d",  # LISU LETTER PHA
        "\ua4d3": "D",  # LISU LETTER DA
        "\ua4d4": "T",  # LISU LETTER TA
        "\ua4d6": "G",  # LISU LETTER GA
        "\ua4d7": "K",  # LISU LETTER KA
        "\ua4d9": "J",  # LISU LETTER JA
        "\ua4da": "C",  # LISU LETTER CA
        "\ua4dc": "Z",  # LISU LETTER DZA
        "\ua4dd": "F",  # LISU LETTER TSA
        "\ua4df": "M",  # LISU LETTER MA
        "\ua4e0": "N",  # LISU LETTER NA
        "\ua4e1": "L",  # LISU LETTER LA
        "\ua4e2": "S",  # LISU LETTER SA
        "\ua4e3": "R",  # LISU LETTER ZHA
        "\ua4e6": "V",  # LISU LETTER HA
        "\ua4e7": "H",  # LISU LETTER XA
        "\ua4ea": "W",  # LISU LETTER WA
        "\ua4eb": "X",  # LISU LETTER SHA
        "\ua4ec": "Y",  # LISU LETTER YA
        "\ua4ee": "A",  # LISU LETTER A
        "\ua4f0": "E",  # LISU LETTER E
        "\ua4f2": "l",  # LISU LETTER I
        "\ua4f3": "O",  # LISU LETTER O
        "\ua4f4": "U",  # LISU LETTER U
    },
    "Canadian Syllabics": {
        "\u142f": "V",  # CANADIAN SYLLABICS PE
        "\u144c": "U",  # CANADIAN SYLLABICS TE
        "\u146d": "P",  # CANADIAN SYLLABICS KI
        "\u146f": "d",  # CANADIAN SYLLABICS KO
        "\u148d": "J",  # CANADIAN SYLLABICS CO
        "\u14aa": "L",  # CANADIAN SYLLABICS MA
        "\u1541": "x",  # CANADIAN SYLLABICS SAYISI YI
        "\u157c": "H",  # CANADIAN SYLLABICS NUNAVUT H
        "\u157d": "x",  # CANADIAN SYLLABICS HK
        "\u1587": "R",  # CANADIAN SYLLABICS TLHI
        "\u15af": "b",  # CANADIAN SYLLABICS AIVILIK B
        "\u15b4": "F",  # CANADIAN SYLLABICS BLACKFOOT WE
        "\u15c5": "A",  # CANADIAN SYLLABICS CARRIER GHO
        "\u15de": "D",  # CANADIAN SYLLABICS CARRIER THE
        "\u15ea": "D",  # CANADIAN SYLLABICS CARRIER PE
        "\u15f0": "M",  # CANADIAN SYLLABICS CARRIER GO
        "\u15f7": "B",  # CANADIAN SYLLABICS CARRIER KHE
    },
    "Tifinagh": {
        "\u2d38": "V",  # TIFINAGH LETTER YADH
        "\u2d39": "E",  # TIFINAGH LETTER YADD
        "\u2d4f": "l",  # TIFINAGH LETTER YAN
        "\u2d54": "O",  # TIFINAGH LETTER YAR
        "\u2d55": "Q",  # TIFINAGH LETTER YARR
        "\u2d5d": "X",  # TIFINAGH LETTER YATH
    },
    "Georgian": {
        "\u10e7": "y",  # GEORGIAN LETTER QAR
        "\u10ff": "o",  # GEORGIAN LETTER LABIAL SIGN
    },
    "Myanmar": {
        "\u101d": "o",  # MYANMAR LETTER WA
    },
}
