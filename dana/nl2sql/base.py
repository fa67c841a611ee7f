"""The interface every translator (offline or model-backed) offers the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from dana.schema import Context


@dataclass(frozen=True)
class Turn:
    """One earlier exchange of the conversation, for follow-up questions."""

    question: str
    sql: str | None = None


@dataclass(frozen=True)
class Request:
    question: str
    context: Context
    dialect: str
    server_version: str | None = None
    history: tuple[Turn, ...] = ()
    # Errors from the guard or the database on an earlier try, for a repair.
    feedback: tuple[str, ...] = ()


@dataclass(frozen=True)
class Translation:
    """`kind` says which of the three answers this is.

    - "sql": `sql` is set, with an explanation and a confidence in [0, 1];
    - "unanswerable": `explanation` says what was not understood or is missing;
    - "clarify": `explanation` is a question back to the user.
    """

    kind: Literal["sql", "unanswerable", "clarify"]
    sql: str | None = None
    explanation: str = ""
    confidence: float = 0.0
    translator: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)


class Translator(Protocol):
    name: str

    async def translate(self, request: Request) -> Translation: ...
