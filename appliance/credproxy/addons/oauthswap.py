"""The subscription swap: the agent's placeholder OAuth token must be the one issued; the real
access token (refreshed on the host when needed) replaces it upstream, as ``Authorization:
Bearer``. Runs for the Anthropic provider only, in place of the API-key swap."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from appliance.credproxy.addons.base import (
    Reporter,
    deny,
    kill,
    passed,
    provider_of,
    request_facts,
    settled,
    strip_credentials,
)
from appliance.credproxy.checks import Denial, check_key
from appliance.credproxy.oauth import ClaudeSubscription, OAuthError

__all__ = ["OAuthSwap"]

logger = logging.getLogger("appliance.credproxy")
_SENT = "ironcurtain.oauth-sent"


class OAuthSwap:
    def __init__(
        self, provider: str, fake_token: str, subscription: ClaudeSubscription, reporter: Reporter
    ) -> None:
        self.provider = provider
        self.fake_token = fake_token
        self.subscription = subscription
        self.reporter = reporter

    async def requestheaders(self, flow: Any) -> None:
        try:
            await self._swap(flow)
        except Exception:  # fail closed, as every hook: never forwarded with what it had
            logger.exception("credential proxy: OAuthSwap.requestheaders failed")
            kill(flow, self.reporter, "hook-failed", "OAuthSwap.requestheaders")

    async def _swap(self, flow: Any) -> None:
        if settled(flow):
            return
        provider = provider_of(flow)
        if provider is None or provider.name != self.provider:
            return  # another provider's key swap, or the gate's refusal, decides it
        denial = check_key(provider, request_facts(flow), self.fake_token)
        if denial is not None:
            deny(flow, self.reporter, denial, provider)
            return
        token = self.subscription.fresh_token()
        if token is None:
            try:  # the refresh is network I/O: off the proxy's loop, other flows go on
                token = await asyncio.to_thread(self.subscription.access_token)
            except OAuthError as exc:
                deny(flow, self.reporter, Denial("oauth-refresh-failed", str(exc)), provider)
                return
        strip_credentials(flow)
        flow.request.headers["authorization"] = f"Bearer {token}"
        flow.metadata[_SENT] = token
        passed(flow, "key")

    def response(self, flow: Any) -> None:
        """A 401 for the token we sent: refresh before the next request (the agent retries)."""
        sent = flow.metadata.get(_SENT)
        if sent is not None and flow.response is not None and flow.response.status_code == 401:
            self.subscription.refused(sent)
