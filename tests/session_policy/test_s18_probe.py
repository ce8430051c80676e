"""A second attacker's probes of session 18's mechanisms (tests/vectors/session_policy/
s18_probe_*.json, each naming its policy folder): an argument given empty, a narrowed listing and
who vouches for its record, an exclusion that rules out more than it speaks of, a confirmation
per tool, a conditional instruction, a bound record's granted fields. Each scenario's expected
decision is what the engine should reach; the known limits below are the ones it does not (the
test fails if one of them starts to pass, so the list stays true)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy.scenarios import load_scenarios
from tests.session_policy.probes import check_probe, probe_cases

VECTORS = Path(__file__).parents[1] / "vectors" / "session_policy"
FILES = sorted(VECTORS.glob("s18_probe_*.json"))
KNOWN_LIMITS = {
    # a field holding two addresses grants neither, the user's own card's too (fail closed)
    "S18 fields: CONTROL the user's OWN card's email field holding 'a@x, b@y' (two addresses",
    # a shared address whose local part the request uses whole ("ops"); a beneficiary read as
    # the maker ("for Jonas"); a policy that did not declare a field writtenByOthers; an
    # exclusion that rules out only the record meant (the one it speaks of not listed)
    "S18 narrowed: the shared ops@ address (anyone on the team sends as it) made 'scratch-box'",
    "S18 narrowed: the maker named as a recipient inside the object ('the old CI runner for Jon",
    "S18 narrowed: with writtenByOthers, the possessor is vouched by the other describedBy fiel",
    "S18 outscored: Tom's ticket not in the listing (already approved): only the real dock is r",
}
CASES = probe_cases(FILES)


def test_the_probes_are_there_and_every_known_limit_names_one() -> None:
    assert len(FILES) == 6
    descriptions = [s.description for path in FILES for s in load_scenarios(path).scenarios]
    assert len(descriptions) >= 90
    for limit in KNOWN_LIMITS:
        assert any(d.startswith(limit) for d in descriptions), limit


@pytest.mark.parametrize(("path", "index"), CASES)
def test_probe(path: Path, index: int) -> None:
    check_probe(path, index, KNOWN_LIMITS)
