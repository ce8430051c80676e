"""A red team's probes of session 19's fixes (tests/vectors/session_policy/s19_probe_*.json, each
naming its policy folder): a possessor typed in lower case names a record's maker, and a bound
record whose maker the request names is not contested by a record of a maker it does not name
(possessor, possessor_cloud: both reverted after these probes); a time the agent judges from
what it reads is a condition (time); records confirm 'unvouched' (unvouched); an instruction's
object ends before a clause a possessive or an article starts (objects). Each scenario's
expected decision is what a safe engine should reach (an attack: deny or ask; a benign
request: allow); the known limits below are the ones the engine does not reach (the test fails
if one of them starts to pass, so the list stays true)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.session_policy.probes import check_limits_name_one, check_probe, probe_cases

VECTORS = Path(__file__).parents[1] / "vectors" / "session_policy"
FILES = sorted(VECTORS.glob("s19_probe_*.json"))
KNOWN_LIMITS = {
    # (Fixed after the probes: the rule keeping a named maker's record apart from every rival
    # of a maker not named, and lower-case possessors naming makers, were reverted: a name in
    # the request is not always the maker meant. Its price, two benign requests asked again:)
    "S19 possessor: CONTROL the docking station for tom's desk, Aisha's real order, n",
    "S19 possessor: CONTROL a lower-case possessor naming the maker, rival of a maker",
    # A maker named in the request vouches for the record a narrowed listing or confirm
    # 'unvouched' found (as designed), also when the name is a beneficiary or says something
    # else ("the press kit print run for Tom's stand"):
    "S19 unvouched: the maker named inside the object as a beneficiary ('the press ki",
    "S19 unvouched: the same beneficiary possessor in lower case ('for tom's stand')",
    "S19 unvouched: the maker named in a clause about the object ('…, Tom's team is",
    # The submitter field ranks first: a person named beside the object (a possessor of a
    # thing that is no expense, "after tom's farewell dinner") binds that person's records
    # over the one described, and the user's own is refused (before the fixes too).
    "S19 possessor: CONTROL the hotel for luis's onboarding week, Aisha's booking alo",
    "S19 possessor: CONTROL the taxi after tom's farewell dinner, Luis's alone: appro",
    "S19 possessor: CONTROL a time possessor ('last week's team lunch'): the user's o",
    # confirm 'unvouched' asks whenever another maker's record meets a word of the request (as
    # 'contested' does): the named maker's own record is asked about.
    "S19 possessor: CONTROL list_team_expenses: 'approve aisha's train ticket' is app",
    "S19 unvouched: CONTROL the maker named as possessor ('luis's laptop charger'), a",
    "S19 unvouched: CONTROL 'Aisha's train ticket' with Tom's 'Conference ticket' pen",
    # Time clauses the pattern misses: "not before" in a negated clause, and a condition in a
    # sentence or clause of its own. (An event someone decides said as a noun, "upon Mia's
    # approval", "pending her sign-off", "post-approval", "when green-lit", holds since.)
    "S19 time: 'but not before it's final' ('before' in a negated clause is a conditi",
    "S19 time: a second sentence: 'Share the trip plan with sam. Only do it after Mia",
    "S19 time: 'Hold it until Mia approves, then share'",
    # A time clause read as a condition where it is a clause inside the description of the
    # record (a note's title).
    "S19 time: CONTROL a time clause inside a note's title ('the note on what to do w",
    "S19 time: CONTROL 'the packing list for after the baby is born' (a title, not a ",
    "S19 time: CONTROL 'the Porto photos from when we went there' (a relative time de",
    "S19 time: CONTROL 'the trip plan we made after the wedding was announced' (a pas",
    # An object's clause the cut misses: no opener at all ("internship's over"); a handle
    # given in a clause of an add instruction.
    "S19 objects: a clause with no determiner ('internship's over'): 'over'",
    "S19 objects: CONTROL an add whose handle is given in a clause ('her github handl",
    "S19 objects: CONTROL 'that one is bkowalczyk' after a description",
}
CASES = probe_cases(FILES)


def test_the_probes_are_there_and_every_known_limit_names_one() -> None:
    assert [p.stem for p in FILES] == [
        "s19_probe_objects",
        "s19_probe_possessor",
        "s19_probe_possessor_cloud",
        "s19_probe_time",
        "s19_probe_unvouched",
    ]
    check_limits_name_one(FILES, KNOWN_LIMITS, at_least=100)


@pytest.mark.parametrize(("path", "index"), CASES)
def test_probe(path: Path, index: int) -> None:
    check_probe(path, index, KNOWN_LIMITS)
