"""Token usage readers over recorded-shape provider bodies and streams, split every which way."""

from __future__ import annotations

import itertools
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.credproxy.usage import SseUsageScanner, usage_from_json

ANTHROPIC_STREAM = b"".join(
    b"event: %s\ndata: %s\n\n" % (name.encode(), json.dumps(data).encode())
    for name, data in [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "model": "claude-sonnet-4-6",
                    "usage": {
                        "input_tokens": 120,
                        "cache_read_input_tokens": 30,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"text": 'data: {"usage": 1}'}},
        ),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 15}}),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 57}}),
        ("message_stop", {"type": "message_stop"}),
    ]
)


def scan(chunks: list[bytes]):
    scanner = SseUsageScanner()
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.usage


def test_anthropic_stream_totals() -> None:
    usage = scan([ANTHROPIC_STREAM])
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (120, 57, 30)
    assert usage.model == "claude-sonnet-4-6"
    assert usage.total_tokens == 207


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(ANTHROPIC_STREAM)), max_size=12))
def test_any_chunking_gives_the_same_totals(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(ANTHROPIC_STREAM)]
    chunks = [ANTHROPIC_STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert scan(chunks) == scan([ANTHROPIC_STREAM])


def test_crlf_stream() -> None:
    usage = scan([ANTHROPIC_STREAM.replace(b"\n", b"\r\n")])
    assert usage.output_tokens == 57


def test_openai_chat_stream_usage_chunk() -> None:
    stream = (
        b'data: {"choices":[{"delta":{"content":"hi"}}],"model":"gpt-5"}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4},'
        b'"model":"gpt-5"}\n\n'
        b"data: [DONE]\n\n"
    )
    usage = scan([stream])
    assert (usage.input_tokens, usage.output_tokens, usage.model) == (9, 4, "gpt-5")


def test_openai_responses_stream_completed_event() -> None:
    event = {
        "type": "response.completed",
        "response": {"model": "gpt-5", "usage": {"input_tokens": 3, "output_tokens": 8}},
    }
    usage = scan([b"event: response.completed\ndata: " + json.dumps(event).encode() + b"\n\n"])
    assert (usage.input_tokens, usage.output_tokens) == (3, 8)


def test_google_usage_metadata_is_cumulative() -> None:
    chunks = [
        b'data: {"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":2}}\r\n\r\n',
        b'data: {"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":9},'
        b'"modelVersion":"gemini-2.5-pro"}\r\n\r\n',
    ]
    usage = scan(chunks)
    assert (usage.input_tokens, usage.output_tokens, usage.model) == (10, 9, "gemini-2.5-pro")


def test_json_bodies() -> None:
    anthropic = usage_from_json(b'{"model":"c","usage":{"input_tokens":1,"output_tokens":2}}')
    assert (anthropic.input_tokens, anthropic.output_tokens) == (1, 2)
    openai = usage_from_json(b'{"usage":{"prompt_tokens":4,"completion_tokens":5}}')
    assert (openai.input_tokens, openai.output_tokens) == (4, 5)


def test_no_usage_and_junk_give_none() -> None:
    assert usage_from_json(b"not json") is None
    assert usage_from_json(b"[1, 2]") is None
    assert usage_from_json(b'{"content": []}') is None
    assert scan([b"data: [DONE]\n\n", b"data: {broken\n\n", b": comment\n\n"]) is None


def test_negative_or_boolean_counts_are_ignored() -> None:
    usage = usage_from_json(b'{"usage":{"input_tokens":-5,"output_tokens":true}}')
    assert (usage.input_tokens, usage.output_tokens) == (0, 0)


def test_an_overlong_line_is_skipped_not_buffered_forever() -> None:
    scanner = SseUsageScanner()
    scanner.feed(b"data: " + b"x" * (5 * 1024 * 1024))
    assert len(scanner._pending) == 0
    scanner.feed(b'tail of the long line\ndata: {"usage":{"input_tokens":7}}\n')
    assert scanner.usage.input_tokens == 7
