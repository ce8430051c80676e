"""No engine needed: the pinned downloads are checked before use, `update_pins` writes a file
that round-trips, and an unreachable provider is reported at once and ends the session."""

from __future__ import annotations

import base64
import hashlib
import importlib.util

import pytest

from appliance.credproxy.events import ProxyEvent, TokenUsage
from appliance.docker import agent_image, pins, update_pins
from appliance.docker.agent_image import claude_code_recipe
from appliance.docker.image import ImageBuildError
from appliance.docker.metering import UsageMeter
from appliance.docker.reachability import Reachability
from appliance.session.budget import BudgetLimits


class _Response:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def raise_for_status(self) -> None:
        return None


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What the 'registry' serves: the test's bytes, never the network."""
    import httpx

    body: list[bytes] = [b""]
    monkeypatch.setattr(httpx, "get", lambda url, **_: _Response(body[0]))
    return body


def test_download_accepts_only_the_pinned_bytes(served: list[bytes]) -> None:
    served[0] = b"the real package"
    npm_style = "sha512-" + base64.b64encode(hashlib.sha512(served[0]).digest()).decode()
    pypi_style = "sha256:" + hashlib.sha256(served[0]).hexdigest()
    assert agent_image._download("https://r/x.tgz", npm_style) == served[0]
    assert agent_image._download("https://r/x.whl", pypi_style) == served[0]
    served[0] = b"the real package, swapped"
    for pinned in (npm_style, pypi_style):
        with pytest.raises(ImageBuildError, match="integrity mismatch"):
            agent_image._download("https://r/x", pinned)
    with pytest.raises(ImageBuildError, match="unsupported pinned hash"):
        agent_image._download("https://r/x", "md5-" + base64.b64encode(b"x").decode())


def test_recipes_come_from_the_pins_for_each_architecture() -> None:
    for machine, (package, integrity) in pins.CLAUDE_CODE_PACKAGES.items():
        recipe = claude_code_recipe(machine)
        assert (recipe.npm_package, recipe.npm_integrity) == (package, integrity)
        assert recipe.npm_version == pins.CLAUDE_CODE_VERSION
        assert recipe.node_wheel == pins.NODE_WHEELS[machine]
        assert integrity.startswith("sha512-") and recipe.node_wheel[1].startswith("sha256:")
    assert pins.NODE_VERSION.split(".")[0] == "24"
    assert claude_code_recipe("x86_64").tag() != claude_code_recipe("aarch64").tag()


def test_an_unpinned_machine_is_refused_before_anything_is_fetched(tmp_path) -> None:
    recipe = claude_code_recipe("riscv64")

    class NoImage:
        class images:
            @staticmethod
            def get(_tag):
                import docker.errors

                raise docker.errors.ImageNotFound("none")

    with pytest.raises(ImageBuildError, match="no claude-code image for this machine"):
        agent_image.ensure_agent_image(NoImage(), recipe, tmp_path, print)
    assert list(tmp_path.iterdir()) == []


def test_update_pins_renders_the_current_pins_unchanged() -> None:
    node = (pins.NODE_VERSION, pins.NODE_WHEELS)
    claude = (pins.CLAUDE_CODE_VERSION, pins.CLAUDE_CODE_PACKAGES)
    codex = (pins.CODEX_VERSION, pins.CODEX_PACKAGES)
    text = update_pins.render(node, claude, codex)
    assert text == update_pins.PINS.read_text()
    bumped = update_pins.render(node, ("9.9.9", pins.CLAUDE_CODE_PACKAGES), codex)
    spec = importlib.util.spec_from_loader("bumped_pins", loader=None)
    module = importlib.util.module_from_spec(spec)
    exec(compile(bumped, "bumped_pins", "exec"), module.__dict__)
    assert module.CLAUDE_CODE_VERSION == "9.9.9"
    assert module.NODE_WHEELS == pins.NODE_WHEELS
    assert module.CODEX_PACKAGES == pins.CODEX_PACKAGES


def _error(reason: str, status: int | None = None, flow: str = "f") -> ProxyEvent:
    return ProxyEvent(
        kind="error", flow_id=flow, host="api.anthropic.com", method="POST",
        path="/v1/messages", provider="anthropic", status=status, reason=reason,
    )  # fmt: skip


def test_the_first_unreachable_failure_is_said_at_once_and_the_third_stops() -> None:
    said: list[str] = []
    watch = Reachability(say=said.append)
    assert watch.on_event(_error("[Errno -2] Name or service not known")) is None
    assert len(said) == 1 and "cannot reach api.anthropic.com" in said[0]
    assert "Name or service not known" in said[0]
    assert watch.on_event(_error("Connection refused")) is None
    stop = watch.on_event(_error("Connection refused"))
    assert stop is not None and "unreachable (3 attempts in a row" in stop
    assert len(said) == 1  # said once, not once per retry


def test_answers_reset_the_count_and_client_hangups_or_mid_stream_errors_do_not_count() -> None:
    said: list[str] = []
    watch = Reachability(say=said.append)
    usage = ProxyEvent(
        kind="usage", flow_id="u", host="api.anthropic.com", method="POST",
        path="/v1/messages", status=200, usage=TokenUsage(input_tokens=1),
    )  # fmt: skip
    for _ in range(5):
        assert watch.on_event(_error("Connection refused")) is None
        assert watch.on_event(_error("Connection refused")) is None
        assert watch.on_event(usage) is None
    for _ in range(5):
        assert watch.on_event(_error("Client disconnected.")) is None
        assert watch.on_event(_error("Server disconnected.", status=200)) is None
    assert watch.failed is None


def test_the_meter_stops_the_session_when_the_provider_is_unreachable() -> None:
    meter = UsageMeter(BudgetLimits(), price=lambda *_: None, warn=lambda _: None)
    meter.reachability = Reachability(say=lambda _: None)
    try:
        for number in range(3):
            assert meter.admit(f"f{number}", b"{}") is None
            meter.on_event(_error("[Errno -2] Name or service not known", flow=f"f{number}"))
        assert "unreachable" in (meter.reachability.failed or "")
        assert meter.summary()["events"]["error"] == 3
    finally:
        meter.close()


def test_a_subscription_that_cannot_be_refreshed_stops_the_session_at_once() -> None:
    said: list[str] = []
    watch = Reachability(say=said.append)
    refused = ProxyEvent(
        kind="denied", flow_id="d", host="api.anthropic.com", method="POST",
        path="/v1/messages", provider="anthropic", status=403, rule="oauth-refresh-failed",
        reason="the token endpoint refused to refresh (HTTP 400); log in again with `claude`",
    )  # fmt: skip
    other = refused.model_copy(update={"rule": "key-mismatch", "reason": "not the issued key"})
    assert watch.on_event(other) is None  # an ordinary refusal stops nothing
    stop = watch.on_event(refused)
    assert stop is not None and "cannot be used" in stop and "log in again" in stop
    assert watch.on_event(refused) is None and said == [stop]  # said once
