"""The table of letters that pass for Latin ones (``confusables.py``), checked against the Unicode
database: each entry is a letter of the script it is filed under, looks like the one ASCII letter
it names, and the display knows its script; the letters left out on purpose stay out."""

from __future__ import annotations

import unicodedata

import pytest

from appliance.chokepoint.escalation.confusables import LATIN_LOOKALIKES
from appliance.chokepoint.escalation.display import lookalike_scripts

# the first word of a letter's Unicode name, for each script of the table
SCRIPT_WORD = {
    "Cyrillic": "CYRILLIC",
    "Greek": "GREEK",
    "Armenian": "ARMENIAN",
    "Cherokee": "CHEROKEE",
    "Coptic": "COPTIC",
    "Lisu": "LISU",
    "Canadian Syllabics": "CANADIAN",
    "Tifinagh": "TIFINAGH",
    "Georgian": "GEORGIAN",
    "Myanmar": "MYANMAR",
}
ENTRIES = [
    (script, letter, latin)
    for script, table in LATIN_LOOKALIKES.items()
    for letter, latin in table.items()
]


def test_the_table_covers_the_scripts_the_display_knows() -> None:
    assert set(LATIN_LOOKALIKES) == set(SCRIPT_WORD)


@pytest.mark.parametrize(("script", "letter", "latin"), ENTRIES, ids=lambda v: f"{v!a}")
def test_each_entry_is_a_letter_of_its_script_and_names_an_ascii_letter(
    script: str, letter: str, latin: str
) -> None:
    name = unicodedata.name(letter)
    assert len(letter) == 1 and letter.isalpha(), name
    assert name.split()[0] == SCRIPT_WORD[script], name
    assert len(latin) == 1 and latin.isascii() and latin.isalpha(), name
    # not a Latin letter in disguise of the database's own: NFKC keeps it in its script
    assert not unicodedata.normalize("NFKC", letter).isascii(), name


def test_no_letter_is_filed_twice() -> None:
    assert len({letter for _, letter, _ in ENTRIES}) == len(ENTRIES)


@pytest.mark.parametrize(
    ("letter", "latin"),
    [
        ("\u0430", "a"),  # CYRILLIC SMALL LETTER A
        ("\u0440", "p"),  # CYRILLIC SMALL LETTER ER
        ("\u04cf", "i"),  # CYRILLIC SMALL LETTER PALOCHKA (version 8.0.0's target)
        ("\u0405", "S"),  # CYRILLIC CAPITAL LETTER DZE
        ("\u03bf", "o"),  # GREEK SMALL LETTER OMICRON
        ("\u039d", "N"),  # GREEK CAPITAL LETTER NU
        ("\u0585", "o"),  # ARMENIAN SMALL LETTER OH
        ("\u13aa", "A"),  # CHEROKEE LETTER GO
        ("\ua4d1", "P"),  # LISU LETTER PA
    ],
)
def test_lines_of_confusables_txt_are_in_the_table(letter: str, latin: str) -> None:
    assert {LATIN_LOOKALIKES[s].get(letter) for s in LATIN_LOOKALIKES} >= {latin}


@pytest.mark.parametrize(
    "letter",
    [
        "\u043f",  # CYRILLIC SMALL LETTER PE: "по"
        "\u0433",  # CYRILLIC SMALL LETTER GHE: "его"
        "\u043a",  # CYRILLIC SMALL LETTER KA: "как"
        "\u0442",  # CYRILLIC SMALL LETTER TE
        "\u0438",  # CYRILLIC SMALL LETTER I: like no Latin letter at all
        "\u03bd",  # GREEK SMALL LETTER NU: "να"
        "\u03b3",  # GREEK SMALL LETTER GAMMA: "για"
        "\u03ba",  # GREEK SMALL LETTER KAPPA: "και"
        "\u03c3",  # GREEK SMALL LETTER SIGMA
        "\u03bb",  # GREEK SMALL LETTER LAMDA
    ],
)
def test_letters_of_ordinary_words_are_left_out(letter: str) -> None:
    assert all(letter not in table for table in LATIN_LOOKALIKES.values())


def test_a_name_of_every_letter_of_a_script_is_a_lookalike() -> None:
    for script, table in LATIN_LOOKALIKES.items():
        letters = "".join(table)
        assert lookalike_scripts(f"{letters}.com") == [script], script
