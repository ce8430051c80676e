"""Links and addresses found in free text (``extract_urls`` / ``extract_emails``): the values a
text role with ``extract`` is judged by, kept as data in ``tests/vectors/policy/extraction``.
A link the extractor misses is a link no rule judges, so every case is a way to hide one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy.role_specs import extract_emails, extract_urls

DATA = Path(__file__).resolve().parents[1] / "vectors" / "policy" / "extraction"
CASES = json.loads((DATA / "links_in_text.json").read_text())["cases"]


@pytest.mark.parametrize("case", CASES, ids=[c["description"][:50] for c in CASES])
def test_links_and_addresses_in_text(case: dict) -> None:
    if "urls" in case:
        assert extract_urls(case["text"]) == case["urls"]
    if "emails" in case:
        assert extract_emails(case["text"]) == case["emails"]
