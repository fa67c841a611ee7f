"""What the chat does on each Chainlit event; `app.py` only wires these to the hooks."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import chainlit as cl

from dana.chat.data_layer import DanaDataLayer
from dana.chat.render import answer_markdown, csv_bytes, plotly_figure, pretty_sql
from dana.chat.suggestions import suggest
from dana.db import accounts
from dana.db.audit import Actor
from dana.nl2sql.base import Turn
from dana.runtime import DEMO_CONNECTION, Runtime

log = logging.getLogger(__name__)

HISTORY_TURNS = 6
MAX_KEPT_ROWS = 1000
_runtime: Runtime | None = None


def runtime() -> Runtime:
    global _runtime
    if _runtime is None:
        _runtime = Runtime.start()
    return _runtime


def data_layer() -> DanaDataLayer:
    return DanaDataLayer(runtime().db, on_approved=approve)


async def approve(
    organization_id: UUID, user_id: UUID | None, connection: str, question: str, sql: str
) -> None:
    """A thumbs up keeps the question and its SQL as an example for later questions."""
    await runtime().pipeline.approve(Actor(organization_id, user_id), connection, question, sql)


async def authenticate(email: str, password: str) -> cl.User | None:
    user = await accounts.authenticate(runtime().db, email, password)
    if user is None:
        return None
    return cl.User(
        identifier=user.email,
        display_name=user.name,
        metadata={
            "organization_id": str(user.organization_id),
            "user_id": str(user.id),
            "role": user.role,
        },
    )


def _actor() -> Actor:
    """Who asks, and from where (the address and browser of the chat's connection)."""
    user = cl.user_session.get("user")
    metadata = user.metadata if user else {}
    environ = getattr(cl.context.session, "environ", None) or {}
    return Actor(
        UUID(metadata["organization_id"]),
        UUID(metadata["user_id"]),
        ip=environ.get("HTTP_X_FORWARDED_FOR", "").split(",")[0].strip()
        or environ.get("REMOTE_ADDR"),
        user_agent=environ.get("HTTP_USER_AGENT"),
    )


async def starters() -> list[cl.Starter]:
    from dana.demo import DEMO_QUESTIONS

    return [cl.Starter(label=q, message=q) for q in DEMO_QUESTIONS[:4]]


async def start() -> None:
    actor = _actor()
    connections = await runtime().registry.list(actor.organization_id)
    names = [c["name"] for c in connections]
    chosen = DEMO_CONNECTION if DEMO_CONNECTION in names else (names[0] if names else None)
    cl.user_session.set("connection", chosen)
    cl.user_session.set("history", [])
    if len(names) > 1:
        await cl.ChatSettings(
            [
                cl.input_widget.Select(
                    id="connection", label="Database", values=names, initial_value=chosen
                )
            ]
        ).send()
    if chosen is None:
        await cl.Message(
            content="No database is connected yet. An admin can add one with "
            "`dana connections add`."
        ).send()


async def settings_changed(settings: dict[str, Any]) -> None:
    if settings.get("connection"):
        cl.user_session.set("connection", settings["connection"])


async def resume(thread: dict[str, Any]) -> None:
    history: list[Turn] = []
    question = None
    for step in thread.get("steps", []):
        if step.get("type") == "user_message":
            question = step.get("output") or ""
        elif question is not None:
            metadata = step.get("metadata") or {}
            if metadata.get("sql") or metadata.get("status") == "clarify":
                history.append(Turn(question, metadata.get("sql")))
                question = None
    cl.user_session.set("history", history[-HISTORY_TURNS:])
    if cl.user_session.get("connection") is None:
        await start()


async def _ensure_conversation(incoming: cl.Message) -> UUID | None:
    """Store the conversation now: Chainlit writes it lazily, but query logs point at it."""
    user = cl.user_session.get("user")
    if not incoming.thread_id or user is None:
        return None
    from chainlit.data import get_data_layer

    layer = get_data_layer()
    if isinstance(layer, DanaDataLayer) and cl.user_session.get("stored") != incoming.thread_id:
        # The first question names the conversation, as Chainlit itself would.
        await layer.update_thread(
            incoming.thread_id, name=incoming.content[:200], user_id=getattr(user, "id", None)
        )
        cl.user_session.set("stored", incoming.thread_id)
    return UUID(incoming.thread_id)


async def _follow_up_actions(registered: Any, answer: Any, question: str) -> list[cl.Action]:
    if registered is None or answer.status != "ok" or not answer.sql:
        return []
    schema = await runtime().registry.cached_schema(registered.organization_id, registered.id)
    if schema is None:
        return []
    return [
        cl.Action(name="follow_up", payload={"question": q}, label=q)
        for q in suggest(answer.sql, registered.dialect, schema, question)
    ]


async def follow_up(action: cl.Action) -> None:
    """A suggested follow-up, clicked: asked as if the user had typed it."""
    question = str(action.payload.get("question", ""))
    if not question:
        return
    user = cl.user_session.get("user")
    asked = cl.Message(
        content=question, type="user_message", author=getattr(user, "identifier", None)
    )
    await asked.send()
    await message(asked)


async def message(incoming: cl.Message) -> None:
    connection = cl.user_session.get("connection")
    if connection is None:
        await cl.Message(content="No database is connected yet.").send()
        return
    history: list[Turn] = cl.user_session.get("history") or []
    conversation_id = await _ensure_conversation(incoming)
    answer = await runtime().pipeline.ask(
        _actor(), connection, incoming.content, tuple(history[-HISTORY_TURNS:]), conversation_id
    )
    actor = _actor()
    registered = (
        await runtime().registry.get(actor.organization_id, connection) if answer.sql else None
    )
    if answer.sql and registered is not None:
        async with cl.Step(name="SQL", type="tool", language="sql", show_input=False) as step:
            step.output = pretty_sql(answer.sql, registered.dialect)
    elements: list[Any] = []
    if answer.status == "ok" and answer.columns:
        elements.append(
            cl.File(
                name="result.csv",
                content=csv_bytes(answer.columns, answer.rows),
                display="inline",
                mime="text/csv",
            )
        )
        if answer.chart:
            figure = plotly_figure(answer.chart, answer.columns, answer.rows)
            elements.append(cl.Plotly(name="chart", figure=figure, display="inline"))
    reply = cl.Message(
        content=answer_markdown(answer),
        elements=elements,
        actions=await _follow_up_actions(registered, answer, incoming.content),
        metadata={
            "sql": answer.sql,
            "status": answer.status,
            "request_id": answer.request_id,
            "connection": connection,
            "rows": len(answer.rows),
            "elapsed_ms": round(answer.elapsed_ms, 1),
            "chart": answer.chart,
            # Kept so that a resumed conversation can offer the CSV and draw the chart again.
            "result": {"columns": answer.columns, "rows": answer.rows[:MAX_KEPT_ROWS]}
            if answer.status == "ok" and answer.columns
            else None,
        },
    )
    await reply.send()
    if (answer.status == "ok" and answer.sql) or answer.status == "clarify":
        # A question DANA asked back stays in the history, so the reply can answer it.
        history.append(Turn(incoming.content, answer.sql if answer.status == "ok" else None))
        cl.user_session.set("history", history[-HISTORY_TURNS:])
