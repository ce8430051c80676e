"""Which model a part talks to, and with what key and endpoint: ``ModelSettings``.

Read from the configuration once and handed to whoever calls a model (the agent loop, the
auto-approver); nothing here imports litellm. Model ids are IronCurtain's ``provider:model``;
``litellm_model`` turns one into litellm's ``provider/model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.config.settings import Config

__all__ = ["MissingKey", "ModelSettings", "litellm_model", "model_settings"]

# IronCurtain's provider names where litellm's differ (Google AI Studio is litellm's "gemini").
_LITELLM_PROVIDER = {"google": "gemini"}


def litellm_model(model_id: str) -> str:
    """``provider:model`` (IronCurtain's naming) to litellm's ``provider/model``."""
    provider, sep, name = model_id.partition(":")
    if not sep or not provider or not name:
        raise ValueError(f"model id {model_id!r} must look like provider:model")
    return f"{_LITELLM_PROVIDER.get(provider, provider)}/{name}"


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


class MissingKey(Exception):
    """The model has neither a key nor a base URL; the message says what to set."""


def model_settings(config: Config, model_id: str | None = None) -> ModelSettings:
    """The agent model's settings (or ``model_id``'s); MissingKey when it has neither a key nor
    a base URL (a gateway may need no key)."""
    model_id = model_id or config.agent_model_id
    litellm_model(model_id)  # ValueError: not provider:model
    settings = ModelSettings.for_model(config, model_id)
    if not settings.api_key and not settings.api_base:
        provider = model_id.partition(":")[0]
        from appliance.config.settings import PROVIDER_ENV

        variable = PROVIDER_ENV.get(
            "google" if provider == "gemini" else provider, "the provider's API key variable"
        )
        raise MissingKey(
            f"no API key for {provider!r} (model {model_id}). Set {variable}, or "
            "run `ironcurtain setup` / `ironcurtain config set` to store one. "
            "To try the appliance without a key, run `ironcurtain demo`."
        )
    return settings
