"""ProxyConfig: bad settings are refused with the field and value named; keys never printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from appliance.credproxy import ProxyConfig
from appliance.credproxy.providers import PROVIDERS, make_fake_key


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"providers": ("anthropic",)}, r"no key for allowed provider\(s\) \['anthropic'\]"),
        ({"real_keys": {"anthropic": " k "}}, "real_keys.anthropic"),
        ({"real_keys": {"anthropic": ""}}, "real_keys.anthropic"),
        ({"real_keys": {"mistral": "k"}, "providers": ()}, "real_keys.mistral"),
        ({"real_keys": {"anthropic": "k"}, "providers": ("anthropic", "anthropic")}, "duplicates"),
        (
            {
                "real_keys": {"anthropic": "k"},
                "upstream_overrides": {"evil.example": ("127.0.0.1", 1)},
            },
            "'evil.example' is not a provider host",
        ),
        (
            {
                "real_keys": {"anthropic": "k"},
                "upstream_overrides": {"api.anthropic.com": ("10.0.0.1", 443)},
            },
            "'10.0.0.1' is not a loopback address",
        ),
        ({"real_keys": {"anthropic": "k"}, "socket_mode": 0o666}, "0o666"),
        ({"real_keys": {"anthropic": "k"}, "listen": "0.0.0.0"}, "listen"),
    ],
)
def test_bad_settings_are_named(settings: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ProxyConfig(**settings)


def test_empty_allowlist_allows_nothing() -> None:
    config = ProxyConfig(providers=())
    assert config.providers == ()


def test_keys_do_not_leak_in_repr() -> None:
    config = ProxyConfig(real_keys={"anthropic": "sk-ant-secret"})
    assert "sk-ant-secret" not in repr(config) and "sk-ant-secret" not in str(config.model_dump())


def test_frozen() -> None:
    config = ProxyConfig(real_keys={"anthropic": "k"})
    with pytest.raises(ValidationError):
        config.providers = ("openai",)


def test_loosening_settings_are_listed() -> None:
    config = ProxyConfig(
        real_keys={"anthropic": "k"},
        upstream_overrides={"api.anthropic.com": ("127.0.0.1", 8443)},
        extra_upstream_ca=Path("/tmp/ca.pem"),
        socket_mode=0o660,
    )
    notes = config.loosening()
    assert len(notes) == 3 and "127.0.0.1:8443" in notes[0]
    assert ProxyConfig(real_keys={"anthropic": "k"}).loosening() == []


def test_fake_keys_are_fresh_each_time() -> None:
    keys = {make_fake_key(PROVIDERS["anthropic"]) for _ in range(50)}
    assert len(keys) == 50


def test_importing_the_package_does_not_load_mitmproxy() -> None:
    import subprocess
    import sys

    code = "import sys, appliance.credproxy; print('mitmproxy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def load_app_config(data: dict, environ: dict):
    import json

    from appliance.config.paths import app_paths
    from appliance.config.settings import load_config

    paths = app_paths()
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(json.dumps(data))
    return load_config(paths, environ)


def test_built_from_the_appliance_config() -> None:
    from appliance.credproxy import proxy_config_from

    app = load_app_config(
        {"credentialProxy": {"allowedProviders": ["anthropic"]}},
        {"ANTHROPIC_API_KEY": "sk-ant-from-env"},
    )
    config = proxy_config_from(app, socket_mode=0o660)
    assert config.providers == ("anthropic",)
    assert config.real_keys["anthropic"].get_secret_value() == "sk-ant-from-env"
    assert config.socket_mode == 0o660


def test_allowed_provider_without_a_key_names_the_fix() -> None:
    from appliance.credproxy import proxy_config_from

    app = load_app_config(
        {"credentialProxy": {"allowedProviders": ["anthropic", "openai"]}},
        {"ANTHROPIC_API_KEY": "sk-ant-from-env"},
    )
    with pytest.raises(ValueError, match=r"'openai'.*openaiApiKey.*OPENAI_API_KEY"):
        proxy_config_from(app)
