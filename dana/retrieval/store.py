"""The embeddings table: incremental writes by content hash, and filtered vector search."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dana.db.session import as_json, execute, fetch_all
from dana.retrieval.documents import Document
from dana.retrieval.embedder import Embedder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hit:
    kind: str
    ref: str
    content: str
    score: float  # cosine similarity, 1 is identical


@dataclass(frozen=True)
class SyncReport:
    embedded: int
    removed: int
    unchanged: int


def vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector) + "]"


async def sync_documents(
    connection: AsyncConnection,
    organization_id: UUID,
    connection_id: UUID,
    documents: Sequence[Document],
    embedder: Embedder,
    kinds: Sequence[str] = ("table", "column"),
) -> SyncReport:
    """Make the stored documents of `kinds` equal `documents`, embedding only what changed."""
    stored = await fetch_all(
        connection,
        "SELECT kind, ref, content_hash FROM embeddings WHERE connection_id = :c"
        " AND kind = ANY(:kinds)",
        {"c": connection_id, "kinds": list(kinds)},
    )
    known = {(r["kind"], r["ref"]): r["content_hash"] for r in stored}
    wanted = {(d.kind, d.ref): d for d in documents}
    changed = [d for key, d in wanted.items() if known.get(key) != d.content_hash]
    gone = [key for key in known if key not in wanted]

    # One executemany per statement, not a round trip per row (a schema of 1,000 tables
    # is 11,000 rows).
    if gone:
        await connection.execute(
            text("DELETE FROM embeddings WHERE connection_id = :c AND kind = :k AND ref = :r"),
            [{"c": connection_id, "k": kind, "r": ref} for kind, ref in gone],
        )
    vectors = await embedder.aembed([d.content for d in changed])
    if changed:
        await connection.execute(
            text(
                "INSERT INTO embeddings (organization_id, connection_id, kind, ref, content,"
                " content_hash, metadata, embedding) VALUES (:org, :c, :k, :r, :content, :hash,"
                " CAST(:meta AS jsonb), CAST(:v AS vector))"
                " ON CONFLICT (connection_id, kind, ref) DO UPDATE SET content = EXCLUDED.content,"
                " content_hash = EXCLUDED.content_hash, embedding = EXCLUDED.embedding"
            ),
            [
                {
                    "org": organization_id,
                    "c": connection_id,
                    "k": document.kind,
                    "r": document.ref,
                    "content": document.content,
                    "hash": document.content_hash,
                    "meta": as_json({}),
                    "v": vector_literal(vector),
                }
                for document, vector in zip(changed, vectors, strict=True)
            ],
        )
    report = SyncReport(len(changed), len(gone), len(wanted) - len(changed))
    log.info("embeddings of connection %s: %s", connection_id, report)
    return report


async def search(
    connection: AsyncConnection,
    connection_id: UUID,
    query_vector: Sequence[float],
    k: int = 20,
    kinds: Sequence[str] = ("table", "column"),
) -> list[Hit]:
    """The `k` nearest documents of one connection (row-level security limits the organization).

    Iterative index scans keep returning rows until `k` pass the filters, so a filter on a
    small connection inside a large table still fills the answer.
    """
    await execute(connection, "SET LOCAL hnsw.iterative_scan = relaxed_order")
    await execute(connection, "SET LOCAL hnsw.ef_search = 100")
    rows = await fetch_all(
        connection,
        "SELECT kind, ref, content, 1 - (embedding <=> CAST(:v AS vector)) AS score"
        " FROM embeddings WHERE connection_id = :c AND kind = ANY(:kinds)"
        " ORDER BY embedding <=> CAST(:v AS vector) LIMIT :k",
        {"v": vector_literal(query_vector), "c": connection_id, "kinds": list(kinds), "k": k},
    )
    hits = [Hit(r["kind"], r["ref"], r["content"], float(r["score"])) for r in rows]
    # relaxed_order may return neighbours slightly out of order.
    return sorted(hits, key=lambda h: h.score, reverse=True)
