"""``customize-policy``'s LLM turn: the user's wish, in their words, becomes a revised
``constitution-user.md`` that they read and accept (or not) before anything is saved."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from policy.compiler.llm import LLM, ask_json

__all__ = ["Draft", "draft_user_constitution"]

SYSTEM = """You help a user adjust the security constitution of an AI agent runtime. The base
constitution stays; the user's additions live in a separate Markdown file. Rewrite that file so it
says, in short plain sentences, what the user asked, without weakening the base's protections of
the appliance itself. Answer with one JSON object only: {"constitution": the complete new
Markdown text of the user's file, "summary": one sentence on what changed}."""


class Draft(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")

    constitution: str = Field(min_length=1, max_length=20_000)
    summary: str = ""


def draft_user_constitution(llm: LLM, base: str, current: str, wish: str) -> Draft:
    prompt = (
        f"Base constitution:\n{base}\n\nThe user's file now:\n{current or '(empty)'}\n\n"
        f"The user asks:\n{wish}"
    )
    return ask_json(llm, SYSTEM, prompt, Draft, "customize")
