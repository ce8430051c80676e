"""How to reach one model: its ``provider:model`` id, key, endpoint and timeout.

Built from the configuration (``ModelSettings.for_model(config, model_id)``) and handed to
whatever calls a model: the agent loop, the auto-approver, the compiler's client. It lives with
the configuration, not the agent loop, so those callers share it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.config.models import Config

__all__ = ["ModelSettings"]


@dataclass(frozen=True)
class ModelSettings:
    model_id: str
    api_key: str | None = None
    api_base: str | None = None
    timeout_s: float = 600.0

    @classmethod
    def for_model(cls, config: Config, model_id: str) -> ModelSettings:
        """The key and endpoint ``config`` holds for ``model_id``'s provider (``anthropicBaseUrl``,
        ``openaiBaseUrl``, ``googleBaseUrl``: each applies to its own provider's models only)."""
        provider = model_id.partition(":")[0]
        return cls(
            model_id, api_key=config.api_key_for(provider), api_base=config.base_url_for(provider)
        )
