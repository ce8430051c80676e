"""A tool result's content blocks as the agent's text (appliance/chokepoint/content.py): text
and embedded text resources intact, binary content withheld with a line that says so."""

from __future__ import annotations

from appliance.chokepoint.content import content_text

PNG = "iVBORw0KGgo" * 10


def test_text_and_embedded_text_resources_come_through_intact() -> None:
    blocks = [
        {"type": "text", "text": "one\ntwo"},
        {
            "type": "resource",
            "resource": {
                "uri": "demo://t/2",
                "mimeType": "text/plain",
                "text": "the whole\nresource",
            },
        },
    ]
    assert content_text(blocks) == "one\ntwo\n[resource demo://t/2 text/plain]\nthe whole\nresource"


def test_binary_is_withheld_with_kind_type_and_size() -> None:
    blocks = [
        {"type": "image", "mimeType": "image/png", "data": PNG},
        {"type": "audio", "mimeType": "audio/wav", "data": "UklGR" * 4},
        {"type": "resource", "resource": {"uri": "demo://b/3", "blob": PNG}},
    ]
    withheld = "base64 chars: binary content is not passed to the agent]"
    assert content_text(blocks).splitlines() == [
        f"[image image/png, {len(PNG)} {withheld}",
        f"[audio audio/wav, 20 {withheld}",
        f"[resource demo://b/3, {len(PNG)} {withheld}",
    ]
    assert PNG not in content_text(blocks)


def test_links_unknown_and_malformed_blocks_are_named_not_dropped() -> None:
    blocks = [
        {"type": "resource_link", "uri": "demo://b/1", "name": "Blob 1"},
        {"type": "hologram"},
        {"type": "resource", "resource": "not an object"},
        "not a block",
    ]
    assert content_text(blocks).splitlines() == [
        "[resource link demo://b/1 (Blob 1)]",
        "[hologram content, not shown]",
        "[resource content, malformed]",
        "[unknown content, not shown]",
    ]


def test_server_chosen_labels_are_cut_short() -> None:
    block = {"type": "image", "mimeType": "x" * 10_000, "data": ""}
    assert len(content_text([block])) < 300
