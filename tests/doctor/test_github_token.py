"""doctor's GitHub token checks against the scripted GitHub API: scopes, expiry, a bad token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from appliance.cli.doctor import fail, ok, warn
from appliance.cli.github_token import check_github, token_report
from appliance.config.settings import Config
from tests.servers.github_fake import TOKEN, fake_github

MAKE = {"ok": ok, "warn": warn, "fail": fail}


def test_a_scoped_current_token_passes_and_names_its_owner() -> None:
    with fake_github() as fake:
        status, detail, _fix = token_report(fake.url, TOKEN)
    assert status == "ok" and "token of alice" in detail and "read:org, repo" in detail
    assert TOKEN not in detail


def test_a_missing_scope_and_a_near_expiry_warn() -> None:
    soon = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S UTC")
    with fake_github() as fake:
        fake.scopes = "public_repo"
        fake.answer = lambda *a: (
            200,
            {"github-authentication-token-expiration": soon},
            {"login": "alice"},
        )
        status, detail, fix = token_report(fake.url, TOKEN)
    assert status == "warn"
    assert "missing scope(s) repo, read:org" in detail and "expires in 1 day(s)" in detail
    assert "config set githubToken" in fix


def test_a_revoked_token_fails_and_doctor_only_calls_github_with_online(monkeypatch) -> None:
    config = Config(github_token="ghp_revokedREVOKED0000000000000000000000")
    with fake_github() as fake:
        monkeypatch.setenv("IRONCURTAIN_GITHUB_API_URL", fake.url)
        offline = check_github(config, False, MAKE)
        assert fake.seen == []
        online = check_github(config, True, MAKE)
    assert [c.status for c in offline] == ["ok"] and "****0000" in offline[0].detail
    assert online[1].name == "github-online" and online[1].status == "fail"
    assert "401" in online[1].detail and "REVOKED" not in online[1].detail


def test_no_token_is_not_a_fault() -> None:
    (check,) = check_github(Config(), True, MAKE)
    assert check.status == "ok" and "public data only" in check.detail
