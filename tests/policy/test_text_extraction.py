"""Links, addresses, phone numbers and IBANs found in free text (``extract_*``): the values a
text role with ``extract`` is judged by, kept as data in ``tests/vectors/policy/extraction``.
A link the extractor misses is a link no rule judges, so every case is a way to hide one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy.role_specs import extract_emails, extract_ibans, extract_phones, extract_urls

DATA = Path(__file__).resolve().parents[1] / "vectors" / "policy" / "extraction"
CASES = json.loads((DATA / "links_in_text.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["description"][:50] for c in CASES])
def test_links_and_addresses_in_text(case: dict) -> None:
    if "urls" in case:
        assert extract_urls(case["text"]) == case["urls"]
    if "emails" in case:
        assert extract_emails(case["text"]) == case["emails"]


NUMBERS = json.loads((DATA / "numbers_in_text.json").read_text())["cases"]


@pytest.mark.parametrize("case", NUMBERS, ids=[c["description"][:50] for c in NUMBERS])
def test_phone_numbers_and_ibans_in_text(case: dict) -> None:
    assert extract_phones(case["text"]) == case["phones"]
    if "ibans" in case:
        assert extract_ibans(case["text"]) == case["ibans"]


def test_a_long_run_of_digits_or_groups_costs_linear_time() -> None:
    """The number patterns are possessive: a megabyte of digits, of one-digit groups or of
    IBAN-like groups is read in well under a second (backtracking would never finish)."""
    import time

    # and runs of short groups a vanity number might start in ("012 012 …": 13 s for 64 KB
    # before its groups were bounded)
    runs = ("1234567890" * 100_000 + "a", "1 " * 500_000 + "a", "DE12 " * 200_000 + "x")
    for text in (*runs, "012 " * 250_000, "0800-" * 200_000 + "AB"):
        began = time.perf_counter()
        extract_phones(text)
        extract_ibans(text)
        assert time.perf_counter() - began < 2.0


def test_a_long_run_of_word_pieces_costs_linear_time_for_links_and_addresses() -> None:
    """The link and address patterns start at most a bounded way into a run of word pieces
    ("a-a-a-…", the name before a bare 'dot' or 'at', a scheme): 64 KB of agent-written text
    is read in well under a second each (they took seconds at 16 KB, growing with its square)."""
    import time

    for text in ("a-" * 32_000 + " at b dot com", "x at " * 13_000 + "y dot com", "-a" * 32_000):
        began = time.perf_counter()
        extract_urls(text)
        extract_emails(text)
        assert time.perf_counter() - began < 2.0
