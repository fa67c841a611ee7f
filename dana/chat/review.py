"""The review pages: reviewers and admins read every conversation of their organization.

Plain server-rendered HTML behind Chainlit's own login; every value is escaped, since
questions, answers and SQL are text that users and models wrote.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any
from uuid import UUID

from chainlit.auth import get_current_user
from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse, Response

from dana.chat.render import csv_bytes, plotly_figure
from dana.db.audit import Actor, security_event
from dana.db.session import fetch_all, fetch_one
from dana.runtime import Runtime

REVIEW_ROLES = ("reviewer", "admin")
PAGE_SIZE = 200

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;
text-align:left;vertical-align:top}pre{background:#f4f4f4;padding:.6rem;white-space:pre-wrap}
.user{background:#eef4ff}.tool{color:#555}.muted{color:#777}a{color:#0b57d0}
"""


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><p><a href='/'>&larr; chat</a> · "
        f"<a href='/review'>all conversations</a></p><h1>{html.escape(title)}</h1>{body}"
        "</body></html>"
    )


def _reviewer(user: Any) -> tuple[UUID, UUID, str]:
    metadata = getattr(user, "metadata", None) or {}
    if metadata.get("role") not in REVIEW_ROLES:
        raise HTTPException(403, "only reviewers and admins can browse all conversations")
    return UUID(metadata["organization_id"]), UUID(metadata["user_id"]), metadata["role"]


def build_review_router(runtime: Callable[[], Runtime]) -> APIRouter:
    router = APIRouter()

    @router.get("/review", response_class=HTMLResponse)
    async def conversations(user: Any = Depends(get_current_user)) -> HTMLResponse:
        organization_id, _, _ = _reviewer(user)
        async with runtime().db.transaction(organization_id) as connection:
            rows = await fetch_all(
                connection,
                "SELECT c.id, c.title, c.updated_at, u.email,"
                " (SELECT count(*) FROM chat_messages m WHERE m.conversation_id = c.id"
                "  AND m.role = 'user') AS questions,"
                " (SELECT count(*) FROM message_feedback f JOIN chat_messages m"
                "  ON m.id = f.message_id WHERE m.conversation_id = c.id AND f.value < 0)"
                "  AS thumbs_down"
                " FROM conversations c LEFT JOIN users u ON u.id = c.user_id"
                " WHERE EXISTS (SELECT 1 FROM chat_messages q WHERE q.conversation_id = c.id"
                " AND q.role = 'user') ORDER BY c.updated_at DESC LIMIT :n",
                {"n": PAGE_SIZE},
            )
        lines = "".join(
            f"<tr><td><a href='/review/{r['id']}'>{html.escape(r['title'] or '(untitled)')}</a>"
            f"</td><td>{html.escape(r['email'] or '')}</td><td>{r['questions']}</td>"
            f"<td>{r['thumbs_down']}</td><td class='muted'>{r['updated_at']:%Y-%m-%d %H:%M}</td>"
            "</tr>"
            for r in rows
        )
        body = (
            "<table><tr><th>conversation</th><th>user</th><th>questions</th>"
            f"<th>thumbs down</th><th>last activity</th></tr>{lines}</table>"
            if rows
            else "<p>No conversations yet.</p>"
        )
        return _page("Conversations", body)

    @router.get("/review/{conversation_id}", response_class=HTMLResponse)
    async def conversation(
        conversation_id: UUID, user: Any = Depends(get_current_user)
    ) -> HTMLResponse:
        organization_id, user_id, _ = _reviewer(user)
        async with runtime().db.transaction(organization_id) as connection:
            head = await fetch_one(
                connection,
                "SELECT c.title, u.email FROM conversations c LEFT JOIN users u"
                " ON u.id = c.user_id WHERE c.id = :id",
                {"id": conversation_id},
            )
            if head is None:
                await _record_if_foreign(runtime(), organization_id, user_id, conversation_id)
                raise HTTPException(404, "there is no such conversation in your organization")
            messages = await fetch_all(
                connection,
                "SELECT m.role, m.name, m.content, m.sql, m.created_at, f.value AS feedback,"
                " f.comment AS feedback_comment"
                " FROM chat_messages m LEFT JOIN message_feedback f ON f.message_id = m.id"
                " WHERE m.conversation_id = :id AND m.step_type <> 'run'"
                " ORDER BY coalesce(m.started_at, m.created_at), m.created_at",
                {"id": conversation_id},
            )
        items = "".join(_message_row(m) for m in messages)
        title = head["title"] or "(untitled)"
        body = f"<p class='muted'>{html.escape(head['email'] or '')}</p><table>{items}</table>"
        return _page(title, body)

    @router.get("/elements/{message_id}/{name}")
    async def element(
        message_id: UUID, name: str, user: Any = Depends(get_current_user)
    ) -> Response:
        """The CSV or chart of a stored answer, for its author and the organization's reviewers."""
        metadata = getattr(user, "metadata", None) or {}
        if not metadata.get("organization_id"):
            raise HTTPException(401, "log in to see this")
        organization_id, user_id = UUID(metadata["organization_id"]), UUID(metadata["user_id"])
        async with runtime().db.transaction(organization_id) as connection:
            row = await fetch_one(
                connection,
                "SELECT m.metadata, c.user_id FROM chat_messages m JOIN conversations c"
                " ON c.id = m.conversation_id WHERE m.id = :id",
                {"id": message_id},
            )
        allowed = row is not None and (
            row["user_id"] == user_id or metadata.get("role") in REVIEW_ROLES
        )
        result = (row["metadata"] or {}).get("result") if allowed and row else None
        if not result:
            raise HTTPException(404, "there is no such answer in your organization")
        if name == "result.csv":
            return Response(csv_bytes(result["columns"], result["rows"]), media_type="text/csv")
        chart = row["metadata"].get("chart") if row else None
        if name == "chart.json" and chart:
            figure = plotly_figure(chart, result["columns"], result["rows"])
            return Response(figure.to_json(), media_type="application/json")
        raise HTTPException(404, "there is no such element")

    return router


async def _record_if_foreign(
    runtime: Runtime, organization_id: UUID, user_id: UUID, conversation_id: UUID
) -> None:
    """A conversation that exists, but in another organization, was reached for on purpose."""
    async with runtime.db.transaction(None, conversation_id=str(conversation_id)) as connection:
        other = await fetch_one(
            connection,
            "SELECT organization_id FROM conversations WHERE id = :id",
            {"id": conversation_id},
        )
    if other is None or other["organization_id"] == organization_id:
        return
    async with runtime.db.transaction(organization_id) as connection:
        await security_event(
            connection,
            Actor(organization_id, user_id),
            "cross_org_access",
            "high",
            {"resource": "conversation", "id": str(conversation_id)},
        )


def _message_row(message: dict[str, Any]) -> str:
    role = message["role"]
    content = f"<pre>{html.escape(message['content'] or '')}</pre>"
    feedback = {1: "<br>rated good", -1: "<br>rated wrong"}.get(message["feedback"] or 0, "")
    if message.get("feedback_comment"):
        feedback += f": {html.escape(message['feedback_comment'])}"
    who = "question" if role == "user" else ("SQL" if role == "tool" else "answer")
    return (
        f"<tr class='{role}'><td>{who}{feedback}<br><span class='muted'>"
        f"{message['created_at']:%H:%M:%S}</span></td><td>{content}</td></tr>"
    )
