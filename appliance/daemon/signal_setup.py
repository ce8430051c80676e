"""``ironcurtain signal setup``: optionally link signal-cli as a secondary device, then trust the
recipient's identity key and write ``daemon/signal.json`` (0600).

Trust is explicit: the recipient's safety number, as signal-cli knows it, is shown and must be
confirmed by the person holding the phone (compare it with the one the Signal app shows). The
daemon later acts on a reply only while ``listIdentities`` still reports that safety number; a
changed key stops approvals until this command is run again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.daemon.signal import SignalConfig, SignalRpc
from appliance.errors import ApplianceError
from appliance.host.atomic import write_text_atomic

__all__ = ["setup_signal"]


class SetupError(ApplianceError):
    pass


def setup_signal(
    target: Path,
    *,
    host: str,
    port: int,
    account: str,
    recipient: str,
    link_name: str | None,
    ask: Callable[[str], str],
    say: Callable[[str], Any],
) -> SignalConfig:
    try:
        rpc = SignalRpc(host, port, lambda _params: None)
    except OSError as exc:
        raise SetupError(f"cannot reach signal-cli at {host}:{port}: {exc}") from exc
    try:
        if link_name is not None:
            uri = rpc.call("startLink", {})["deviceLinkUri"]
            say(f"scan this in Signal (Settings > Linked devices), e.g. as a QR code:\n{uri}")
            rpc.call("finishLink", {"deviceLinkUri": uri, "deviceName": link_name}, 300)
            say("linked")
        identities = rpc.call("listIdentities", {"account": account, "number": recipient})
    finally:
        rpc.close()
    numbers = [i.get("safetyNumber") for i in identities or [] if isinstance(i, dict)]
    numbers = [n for n in numbers if isinstance(n, str) and n]
    if len(numbers) != 1:
        raise SetupError(
            f"signal-cli knows {len(numbers)} identity keys for {recipient}; send it a message "
            "first so signal-cli learns exactly one"
        )
    say(f"safety number of {recipient}:\n{numbers[0]}")
    if ask("does it match the one the Signal app shows? (yes/no) ").strip().lower() != "yes":
        raise SetupError("not trusted; nothing written")
    config = SignalConfig(
        host=host, port=port, account=account, recipient=recipient, safety_number=numbers[0]
    )
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_text_atomic(target, config.model_dump_json(indent=1) + "\n", mode=0o600)
    return config
