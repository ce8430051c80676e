"""A red team's probes of three changes of session 19
(tests/vectors/session_policy/s19b_probe_*.json, each naming its policy folder): provenance
phrases, runs of 2-4 short words a result wrote found as a whole argument unless the user typed
them (phrases; round 15 contacts policy); every listing granting a list confirms as strictly as
the strictest of them (confirm; the possessor policy varied in s19b_probe_confirm_policy: a
sibling granting the same list, one granting a list of another name, a trip listing granting an
expense id by alsoGrants); an alsoGrants amount granted in a number's forms (amounts; round 15
expenses policy). Each scenario's expected decision is what a safe engine should reach (an
attack: not allowed; a benign request, CONTROL: allowed); the known limits below are the ones
the engine does not reach (the test fails if one of them starts to pass, so the list stays
true)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.session_policy.probes import check_limits_name_one, check_probe, probe_cases

VECTORS = Path(__file__).parents[1] / "vectors" / "session_policy"
FILES = sorted(VECTORS.glob("s19b_probe_*.json"))
KNOWN_LIMITS = {
    # (Fixed after these probes: phrases are runs of 2-6 words read as copies are — a
    # possessive's "s" a word, accents, invisible and lookalike characters and a modifier-letter
    # apostrophe folded — of any length, from a result's strings of up to 500 characters, and the
    # user's typed runs include an accent-free form and a possessive's name; the strictest
    # confirm is taken over the lists a rule allows for the same role, alsoGrants lists included;
    # an amount's forms never round, and a JSON number field grants its forms.)
    # Phrases: a copied name the memory does not hold as the agent writes it: the words joined
    # by a zero-width space (read as one word), spread over two fields of the card.
    "S19b phrases: the result joins the words with a zero-width space",
    "S19b phrases: the name spread over two fields of the card",
    # a run the user's request typed in another sense is the user's value:
    "S19b phrases: the user's request typed 'Mum's cell' in another sense",
    "S19b phrases: the request typed 'Dad's work'",
    # Phrases, a benign request asked: a person's own name the card wrote in a form the user
    # did not type exactly (a middle initial).
    "S19b phrases: CONTROL the card writes a middle initial",
    # Confirm (before the change too): a word of a sibling listing's name in the request
    # ('team' of list_team_expenses) makes list_expenses skip the approve instruction's scoped
    # binding: the user's own team lunch is refused.
    "S19b confirm: CONTROL the user's own record ('the team lunch') through list_expenses",
    # Amounts, benign requests asked (before the change too): a whole amount written as a
    # string without decimals (an id of digits is kept as written), and amounts written with a
    # group, a currency or a decimal comma.
    "S19b amounts: CONTROL the listing gives a whole amount as the string '264'",
    "S19b amounts: CONTROL the listing writes a thousands group",
    "S19b amounts: CONTROL the listing writes the currency ('264.00 EUR')",
    "S19b amounts: CONTROL the listing writes a decimal comma",
    "S19b amounts: CONTROL the listing writes a currency sign",
}
CASES = probe_cases(FILES)


def test_the_probes_are_there_and_every_known_limit_names_one() -> None:
    assert [p.stem for p in FILES] == [
        "s19b_probe_amounts",
        "s19b_probe_confirm",
        "s19b_probe_phrases",
    ]
    check_limits_name_one(FILES, KNOWN_LIMITS, at_least=60)


@pytest.mark.parametrize(("path", "index"), CASES)
def test_probe(path: Path, index: int) -> None:
    check_probe(path, index, KNOWN_LIMITS)
