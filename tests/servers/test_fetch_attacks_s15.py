"""http_fetch and the policy's domain allowlist: the policy judges the host of the URL the agent
names, so the server must not carry the call on to another host by itself (a redirect)."""

from __future__ import annotations

from test_fetch_support import local_site, page, redirect, table_resolver

from servers.fetch.client import request
from servers.fetch.settings import FetchSettings
from servers.fetch.tools import http_fetch


class Asked:
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.inner, self.asked = table_resolver(table), []

    def __call__(self, host: str, port: int, timeout: float) -> list[str]:
        self.asked.append(host)
        return self.inner(host, port, timeout)


def test_redirect_to_another_host_is_returned_not_followed() -> None:
    """allowed.test (the host the policy allowed) redirects to leak.test with data in the URL:
    leak.test is neither resolved nor contacted; the agent gets the URL to ask for itself."""
    resolver = Asked({"allowed.test": ["127.0.0.1"], "leak.test": ["127.0.0.1"]})
    settings = FetchSettings(allow_private=True, resolver=resolver)
    with local_site({"/x": page(b"<p>not allowed</p>")}) as other:
        target = other.url("/x?d=SECRET", host="leak.test")
        with local_site({"/": redirect(target)}) as site:
            result = http_fetch({"url": site.url("/", host="allowed.test")}, settings)
    assert other.seen == [] and resolver.asked == ["allowed.test"]
    assert "not allowed" not in result.text
    assert result.structured["redirect_to"] == target and target in result.text
    assert result.structured["status"] == 302 and not result.is_error


def test_redirect_to_another_spelling_of_an_ip_is_another_host() -> None:
    """An IP origin redirecting to a name that resolves to the same address is still another
    host for the policy (which matches names and IPs separately)."""
    settings = FetchSettings(allow_private=True, resolver=Asked({"named.test": ["127.0.0.1"]}))
    with (
        local_site({"/b": page(b"<p>b</p>")}) as other,
        local_site({"/": redirect(other.url("/b", host="named.test"))}) as site,
    ):
        response = request(site.url("/"), settings, timeout=5)
    assert other.seen == [] and response.redirect_to is not None


def test_same_host_redirects_are_still_followed() -> None:
    settings = FetchSettings(allow_private=True, resolver=Asked({"allowed.test": ["127.0.0.1"]}))
    with local_site({"/": redirect("/b"), "/b": page(b"<p>b</p>")}) as site:
        result = http_fetch({"url": site.url("/", host="ALLOWED.test.")}, settings)
    assert result.text.startswith("b") and result.structured["redirect_to"] is None
