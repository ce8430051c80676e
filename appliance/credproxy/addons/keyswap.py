"""The key swap: the agent's fake key must be the one issued; the real key replaces it upstream."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from appliance.credproxy.addons.base import (
    Reporter,
    deny,
    fail_closed,
    passed,
    provider_of,
    request_facts,
    settled,
    strip_credentials,
)
from appliance.credproxy.checks import check_key

__all__ = ["KeySwap"]


class KeySwap:
    def __init__(
        self, fake_keys: dict[str, str], real_keys: dict[str, SecretStr], reporter: Reporter
    ) -> None:
        self.fake_keys = dict(fake_keys)
        self.real_keys = dict(real_keys)
        self.reporter = reporter

    @fail_closed
    def requestheaders(self, flow: Any) -> None:
        if settled(flow):
            return
        provider = provider_of(flow)
        if provider is None:  # the gate did not run or did not pass: the seal will kill it
            return
        if provider.name not in self.real_keys:  # a subscription: OAuthSwap swaps (or the seal)
            return
        denial = check_key(provider, request_facts(flow), self.fake_keys[provider.name])
        if denial is not None:
            deny(flow, self.reporter, denial, provider)
            return
        strip_credentials(flow)
        if provider.key_query_param is not None:
            flow.request.query.pop(provider.key_query_param, None)
        real = self.real_keys[provider.name].get_secret_value()
        flow.request.headers[provider.real_key_header] = (
            f"Bearer {real}" if provider.bearer else real
        )
        passed(flow, "key")
