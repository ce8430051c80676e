"""The GitHub server's client in process, against the scripted API: Link pagination stays on
the configured host, a short rate-limit wait is sat out once, a long one is reported, the
Enterprise base URL is derived as GitHub documents it, and the address checks apply."""

from __future__ import annotations

import pytest
from github_fake import TOKEN, fake_github

from servers.github.api import GitHubApi, GitHubError, api_url_for_host, next_link


def _api(url: str, **kwargs) -> GitHubApi:
    return GitHubApi(url, TOKEN, allow_private=True, **kwargs)


def test_pagination_follows_next_links_until_the_last_page() -> None:
    with fake_github() as fake:
        items = _api(fake.url).paged("/repos/alice/tool/branches", {"per_page": 1}, pages=10)
    assert [item["name"] for item in items] == ["b1", "b2", "b3"]
    assert [s.query.get("page") for s in fake.seen] == [None, ["2"], ["3"]]
    assert len({s.peer for s in fake.seen}) == 1  # one kept-alive connection


def test_a_link_to_another_host_is_not_followed() -> None:
    api = _api("http://127.0.0.1:1")
    with pytest.raises(GitHubError, match="another host"):
        api._url("https://evil.example/repos/alice/tool/branches?page=2")
    with pytest.raises(GitHubError, match="another host"):
        api._url("http://127.0.0.1:2/repos/x")  # same address, other port


def test_a_short_rate_limit_is_waited_out_once() -> None:
    slept: list[float] = []
    with fake_github() as fake:
        fake.rate_limited(reset_in=2)
        me = _api(fake.url, sleep=slept.append).request("GET", "/user")
    assert me["login"] == "alice" and len(slept) == 1 and 0 <= slept[0] <= 2
    assert len(fake.seen) == 2


def test_a_long_rate_limit_is_reported_not_retried() -> None:
    slept: list[float] = []
    with fake_github() as fake:
        fake.rate_limited(reset_in=600)
        with pytest.raises(GitHubError, match=r"rate limit reached .* resets in"):
            _api(fake.url, sleep=slept.append).request("GET", "/user")
    assert slept == [] and len(fake.seen) == 1


def test_a_secondary_limit_with_retry_after_is_reported() -> None:
    with fake_github() as fake:
        fake.queued.append((429, {"retry-after": "120"}, {"message": "secondary rate limit"}))
        with pytest.raises(GitHubError, match="resets in 121 s"):
            _api(fake.url).request("GET", "/user")


def test_a_secondary_limit_without_headers_is_reported_as_a_minute() -> None:
    with fake_github() as fake:
        body = {"message": "You have exceeded a secondary rate limit."}
        fake.queued.append((403, {}, body))
        with pytest.raises(GitHubError, match="resets in 61 s"):
            _api(fake.url).request("GET", "/user")


@pytest.mark.parametrize(
    ("host", "url"),
    [
        (None, "https://api.github.com"),
        ("github.com", "https://api.github.com"),
        ("https://github.example.com", "https://github.example.com/api/v3"),
        ("github.example.com", "https://github.example.com/api/v3"),
        ("octo.ghe.com", "https://api.octo.ghe.com"),
    ],
)
def test_enterprise_host_to_api_url(host: str | None, url: str) -> None:
    assert api_url_for_host(host) == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://api.github.com", "only https"),
        ("https://user:pw@api.github.com", "credentials"),
        ("https://api.github.com/?x=1", "credentials, a query"),
        ("ftp://api.github.com", "not an http"),
    ],
)
def test_bad_base_urls_are_refused_at_start(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        GitHubApi(url, TOKEN)


def test_the_address_checks_refuse_a_private_api_without_the_flag() -> None:
    api = GitHubApi("https://10.0.0.5", TOKEN)
    with pytest.raises(Exception, match="private"):
        api.request("GET", "/user")
    metadata = GitHubApi("https://169.254.169.254", TOKEN, allow_private=True)
    with pytest.raises(Exception, match="metadata"):
        metadata.request("GET", "/user")


def test_next_link_parsing() -> None:
    header = (
        '<https://api.github.com/x?page=2>; rel="next", '
        '<https://api.github.com/x?page=5>; rel="last"'
    )
    assert next_link(header) == "https://api.github.com/x?page=2"
    assert next_link('<https://api.github.com/x?page=5>; rel="last"') is None


def test_the_token_is_scrubbed_from_text() -> None:
    api = _api("http://127.0.0.1:1")
    assert TOKEN not in api.scrub(f"echo {TOKEN} back") and "[token]" in api.scrub(TOKEN)
    assert TOKEN not in repr(api)
