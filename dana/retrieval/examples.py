"""Approved answers: a question and its SQL that a user gave a thumbs up.

They are embedded like schema documents; later questions find them by meaning, as
few-shot examples for a model, and a near-identical question reuses the approved SQL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from dana.db.session import as_json, execute, fetch_all
from dana.retrieval.store import vector_literal

# Above this similarity a question is the approved one said again: its SQL is reused.
SAME_QUESTION = 0.97
# Above this, an approved pair is close enough to show a model as an example.
RELATED_QUESTION = 0.75


@dataclass(frozen=True)
class Example:
    question: str
    sql: str
    score: float


async def store_example(
    connection: AsyncConnection,
    organization_id: UUID,
    connection_id: UUID,
    question: str,
    sql: str,
    vector: list[float],
) -> None:
    ref = hashlib.sha256(question.strip().lower().encode()).hexdigest()[:32]
    await execute(
        connection,
        "INSERT INTO embeddings (organization_id, connection_id, kind, ref, content,"
        " content_hash, metadata, embedding) VALUES (:org, :c, 'example', :ref, :q, :hash,"
        " CAST(:meta AS jsonb), CAST(:v AS vector)) ON CONFLICT (connection_id, kind, ref)"
        " DO UPDATE SET metadata = EXCLUDED.metadata, content = EXCLUDED.content",
        {
            "org": organization_id,
            "c": connection_id,
            "ref": ref,
            "q": question,
            "hash": hashlib.sha256(sql.encode()).hexdigest(),
            "meta": as_json({"sql": sql}),
            "v": vector_literal(vector),
        },
    )


async def find_examples(
    connection: AsyncConnection, connection_id: UUID, vector: list[float], k: int = 3
) -> list[Example]:
    rows = await fetch_all(
        connection,
        "SELECT content, metadata ->> 'sql' AS sql,"
        " 1 - (embedding <=> CAST(:v AS vector)) AS score FROM embeddings"
        " WHERE connection_id = :c AND kind = 'example'"
        " ORDER BY embedding <=> CAST(:v AS vector) LIMIT :k",
        {"v": vector_literal(vector), "c": connection_id, "k": k},
    )
    return [
        Example(r["content"], r["sql"], float(r["score"]))
        for r in rows
        if r["sql"] and float(r["score"]) >= RELATED_QUESTION
    ]
