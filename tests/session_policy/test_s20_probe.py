"""A red team's probes of session 20's changes (tests/vectors/session_policy/s20_probe_*.json,
each naming its policy folder): each object piece of an instruction binding its own record and
task:objects with a count's 'reaches': 'asked' (parts, caps; the several/ policy, and in
s20_probe_caps_policy its reimbursement cap written 'reaches' too), 'ofRecord' (records), the
size condition (sizes; typed/), amounts and days in words (words, sizes; several/, typed/, and
ports in owners/), task:months and the size of it (months; months/), ownedBy admitting
'@task:emails' (owners; owners/), and the reading changes: a request passed on, 'would you mind'
with a gerund, a negated clause in a later sentence (reading on several/, reading_hr on the HR
server of months/). The attacker writes only what tool results hold (a listing record's text, a
VM's name); the user's requests are benign. Each scenario's expected decision is what a safe
engine should reach (an attack: not allowed; a benign request, CONTROL: allowed); the known
limits below are the ones the engine does not reach (the test fails if one of them starts to
pass, so the list stays true)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.session_policy.probes import check_limits_name_one, check_probe, probe_cases

VECTORS = Path(__file__).parents[1] / "vectors" / "session_policy"
FILES = sorted(VECTORS.glob("s20_probe_*.json"))
KNOWN_LIMITS = {
    # (Fixed after these probes, 44 of the 79 wrong: a piece continuing an instruction is one
    # more object only when it names one — not a sign-off, 'nothing else', an amount, an
    # apposition saying which one ('the first leg') — and only joined by 'and'/'plus' (a list
    # 'A, B and C' too), not after a comma or a dash that adds details; a record bound by one
    # object's words alone is confirmed; 'both' counts only with the object ('from both
    # classes', 'both of them'), and 'both:' before a list is no piece of it; amounts in words
    # only with money ('… euros', a preposition or nothing after, never a noun: 'a thousand
    # thanks', 'the ninety minutes'), the price idiom only as X.YY ('forty-two fifty' is 42.50,
    # never 42 or 50; under ten also X·100+YY: 'one fifty' 150, 'four forty-three' 443), 'and'
    # joins only after 'hundred'/'thousand', 'N euros (and) M cents', 'hundred' no past tense;
    # a colleague named Jan, May or June ('Jan from payroll', 'ask May') is no month; a request
    # passed on ('X asked me to …') is an instruction on a condition: asked; 'would you mind
    # leaving/letting/keeping …' asks for nothing; a negated condition in a later sentence
    # conditions the instruction again unless it has a subject of its own; the typed/ policy
    # refuses an amount other than the one typed before allowing the listed one.)
    # The price of those fixes, benign requests asked: a second record bound by its own words
    # is confirmed; a request passed on is asked.
    "S20 caps: CONTROL reimburse both: the second payment",
    "S20 reading: CONTROL 'Luis needs me to approve his charger.'",
    "S20 records: CONTROL each typed amount with its own record",
    # Parts, benign requests: two objects named by their owners still contest each other in
    # the whole request's ranking (the second is confirmed); 'as well as' joins a second object
    # since, bound by its own words and so confirmed; a demonstrative object followed by 'of
    # Aisha's' is not read as a second object, so the cap refuses it.
    "S20 parts: CONTROL two objects by their owners' names",
    "S20 parts: CONTROL 'as well as' joins two objects",
    "S20 parts: CONTROL a demonstrative object after its owner",
    # Caps, attacks: 'both' in a statement after the object still counts with it; a cap of
    # what was asked counts calls, not records, so one record is paid twice (a policy can add
    # 'each record once': a session list and a deny); a correction in a later sentence
    # ('Actually, only exp-2043.') takes nothing back.
    "S20 caps: 'both' in a statement after the id",
    "S20 caps: a cap of what was asked counts calls, not records",
    "S20 caps: a correction ('Actually, only exp-2043.')",
    # Count (session 20 review, on round 16's expenses policy): a detail joined by ', and'
    # ('…, and category travel') is one more object, and the lower-case piece before it an item
    # of the list, so the cap at what was asked lets a second submission through (a dash or a
    # semicolon before the details holds).
    "S20 count: a detail joined by ', and'",
    # Caps, benign requests refused: 'Aisha's two train tickets' binds neither ticket ('without
    # any fuss' and 'and no others' negate nothing since).
    "S20 caps: CONTROL 'Aisha's two train tickets'",
    # Records: a benign second payment asked in a second instruction is refused by the several/
    # policy's cap of one without 'both' (its reimbursement cap is not written with 'reaches').
    "S20 records: CONTROL two payments in two instructions",
    # Words, benign amounts refused: 'twenty and thirty euros' (two amounts, the policy's cap
    # of one) and an amount in a clause of its own ('it was a hundred and ten').
    "S20 sizes: CONTROL 'twenty and thirty euros'",
    "S20 words: CONTROL 'twenty and thirty euros'",
    "S20 words: CONTROL 'it was a hundred and ten'",
    # Months, attacks: (since session 21 a month without a year is its nearest occurrence in
    # task:months, its latest in task:months-past and its next in task:months-next, so 'his
    # June payslip' in July 2026 no longer grants June 2025 as well); task:months is the
    # whole request's for a tool without askedBy, so a month in a statement ('He joined us in
    # March', 'His March one had an error', 'by August') is a month asked for (scope it with
    # askedBy or a rule's asks).
    "S20 months: 'Sept' without a year",
    "S20 months: a month in a statement ('He joined us in March')",
    "S20 months: a month in a statement about another payslip",
    "S20 months: a deadline",
    # Months, benign requests: lower-case 'may' is never a month; 'May first thing tomorrow' is
    # read as the date 1 May, which takes the month away; a month in a statement makes the size
    # deny refuse the latest payslip the user asked for.
    "S20 months: CONTROL 'his may payslip'",
    # the price of the nearest occurrence: 'his Sept payslip' in July 2026 is September 2026 in
    # task:months, which this policy reads; a payslip's policy reads task:months-past (2025-09)
    "S20 months: CONTROL 'his Sept payslip' in July 2026",
    "S20 months: CONTROL 'for May first thing tomorrow'",
    "S20 months: CONTROL 'his latest payslip'",
    # Owners, benign requests (the attacks hold: a typed owner's record is confirmed or tied):
    # the owner's address in a clause blanked as negated ('no longer needs it') admits nothing;
    # a VM of an owner typed for another purpose, named with the team VM's words and more,
    # contests the team's VM (confirmed, or both refused).
    "S20 owners: CONTROL the owner's address in 'its owner",
    "S20 owners: CONTROL Mei's staging-db",
    "S20 owners: CONTROL the team's gpu training box",
    # ('Do you mind approving …? Actually no' holds since: a question split by a comma or
    # asked with 'do you mind' is a question, and asks for nothing.)
    # Reading, benign requests: the user's own instruction after a reported one is lost or
    # contested by the reported one's record; 'approve it instead' after 'Never mind declining
    # ...' points back to nothing; 'that wedding one' is no object ('one'); a request passed on
    # after 'And' is not read.
    "S20 reading: CONTROL the user's own instruction after a refused reported one",
    "S20 reading hr: CONTROL the user's own instruction after a reported one",
    "S20 reading hr: CONTROL 'Never mind declining",
    "S20 reading hr: CONTROL 'and that wedding one too'",
    "S20 reading hr: CONTROL a request passed on after 'And'",
}
CASES = probe_cases(FILES)


def test_the_probes_are_there_and_every_known_limit_names_one() -> None:
    assert [p.stem for p in FILES] == [
        "s20_probe_caps",
        "s20_probe_count",
        "s20_probe_months",
        "s20_probe_owners",
        "s20_probe_parts",
        "s20_probe_reading",
        "s20_probe_reading_hr",
        "s20_probe_records",
        "s20_probe_sizes",
        "s20_probe_words",
    ]
    check_limits_name_one(FILES, KNOWN_LIMITS, at_least=60)


@pytest.mark.parametrize(("path", "index"), CASES)
def test_probe(path: Path, index: int) -> None:
    check_probe(path, index, KNOWN_LIMITS)
