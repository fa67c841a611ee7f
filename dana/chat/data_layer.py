"""Chainlit's persistence on DANA's schema: threads are conversations, steps are messages.

Chainlit knows a user by an id it gets from us; we make it `<organization>:<user>` so that
every call that names a user also names the organization its rows live under.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from chainlit.data.base import BaseDataLayer
from chainlit.types import Feedback, PageInfo, PaginatedResponse, Pagination, ThreadFilter
from chainlit.user import PersistedUser, User

from dana.db.session import Database, as_json, execute, fetch_all, fetch_one

log = logging.getLogger(__name__)

# Chainlit step types that a person typed; everything else the assistant produced.
USER_STEP_TYPES = {"user_message"}


def chat_user_id(organization_id: UUID, user_id: UUID) -> str:
    return f"{organization_id}:{user_id}"


def split_chat_user_id(value: str) -> tuple[UUID, UUID]:
    organization, user = value.split(":", 1)
    return UUID(organization), UUID(user)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


# Called with (organization, user, connection name, question, sql) on a thumbs up.
Approver = Callable[[UUID, UUID | None, str, str, str], Awaitable[None]]


class DanaDataLayer(BaseDataLayer):
    def __init__(self, db: Database, on_approved: Approver | None = None) -> None:
        self.db = db
        self.on_approved = on_approved
        self._organization_of: dict[str, UUID] = {}

    # Users ---------------------------------------------------------------------------

    async def get_user(self, identifier: str) -> PersistedUser | None:
        async with self.db.transaction(None, login_email=identifier) as connection:
            row = await fetch_one(
                connection,
                "SELECT id, organization_id, email, name, role, created_at FROM users"
                " WHERE lower(email) = lower(:e) AND is_active",
                {"e": identifier},
            )
        if row is None:
            return None
        return PersistedUser(
            id=chat_user_id(row["organization_id"], row["id"]),
            identifier=row["email"],
            display_name=row["name"],
            createdAt=_iso(row["created_at"]) or "",
            metadata={
                "role": row["role"],
                "organization_id": str(row["organization_id"]),
                "user_id": str(row["id"]),
            },
        )

    async def create_user(self, user: User) -> PersistedUser | None:
        # Users are created by admins, never by signing in; sign-in only finds them.
        return await self.get_user(user.identifier)

    # Threads -------------------------------------------------------------------------

    async def organization_of(self, thread_id: str) -> UUID | None:
        if thread_id in self._organization_of:
            return self._organization_of[thread_id]
        async with self.db.transaction(None, conversation_id=str(UUID(thread_id))) as connection:
            row = await fetch_one(
                connection,
                "SELECT organization_id FROM conversations WHERE id = :id",
                {"id": thread_id},
            )
        if row is None:
            return None
        self._organization_of[thread_id] = row["organization_id"]
        return row["organization_id"]

    async def get_thread_author(self, thread_id: str) -> str:
        organization_id = await self.organization_of(thread_id)
        if organization_id is None:
            return ""
        async with self.db.transaction(organization_id) as connection:
            row = await fetch_one(
                connection,
                "SELECT u.email FROM conversations c JOIN users u ON u.id = c.user_id"
                " WHERE c.id = :id",
                {"id": thread_id},
            )
        return row["email"] if row else ""

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict | None = None,
        tags: list[str] | None = None,
    ) -> None:
        organization_id = await self.organization_of(thread_id)
        owner = None
        if user_id:
            user_org, owner = split_chat_user_id(user_id)
            organization_id = organization_id or user_org
        if organization_id is None:
            log.debug("thread %s has no organization yet; nothing to update", thread_id)
            return
        clean_metadata = {k: v for k, v in (metadata or {}).items() if _jsonable(v)}
        async with self.db.transaction(organization_id) as connection:
            await execute(
                connection,
                "INSERT INTO conversations (id, organization_id, user_id, title, metadata, tags)"
                " VALUES (:id, :org, :user, coalesce(CAST(:title AS text), ''), CAST(:meta AS jsonb),"
                " coalesce(CAST(:tags AS text[]), '{}')) ON CONFLICT (id) DO UPDATE SET"
                " title = coalesce(CAST(:title AS text), conversations.title),"
                " user_id = coalesce(CAST(:user AS uuid), conversations.user_id),"
                " metadata = conversations.metadata || CAST(:meta AS jsonb),"
                " tags = coalesce(CAST(:tags AS text[]), conversations.tags)",
                {
                    "id": thread_id,
                    "org": organization_id,
                    "user": owner,
                    "title": name[:200] if name else None,
                    "meta": as_json(clean_metadata),
                    "tags": tags,
                },
            )
        self._organization_of[thread_id] = organization_id

    async def get_thread(self, thread_id: str) -> dict | None:
        organization_id = await self.organization_of(thread_id)
        if organization_id is None:
            return None
        async with self.db.transaction(organization_id) as connection:
            thread = await fetch_one(
                connection,
                "SELECT c.id, c.title, c.metadata, c.tags, c.created_at, c.user_id, u.email"
                " FROM conversations c LEFT JOIN users u ON u.id = c.user_id WHERE c.id = :id",
                {"id": thread_id},
            )
            if thread is None:
                return None
            messages = await fetch_all(
                connection,
                "SELECT m.*, f.id AS feedback_id, f.value AS feedback_value,"
                " f.comment AS feedback_comment FROM chat_messages m"
                " LEFT JOIN message_feedback f ON f.message_id = m.id"
                " WHERE m.conversation_id = :id ORDER BY coalesce(m.started_at, m.created_at), m.created_at",
                {"id": thread_id},
            )
        return {
            "id": str(thread["id"]),
            "createdAt": _iso(thread["created_at"]),
            "name": thread["title"],
            "userId": chat_user_id(organization_id, thread["user_id"])
            if thread["user_id"]
            else None,
            "userIdentifier": thread["email"],
            "tags": thread["tags"],
            "metadata": thread["metadata"],
            "steps": [_step_dict(m) for m in messages],
            "elements": [e for m in messages for e in _answer_elements(m)],
        }

    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse[dict]:
        if not filters.userId:
            return PaginatedResponse(PageInfo(False, None, None), [])
        organization_id, user_id = split_chat_user_id(filters.userId)
        params: dict[str, Any] = {"user": user_id, "limit": pagination.first + 1}
        where = ["c.user_id = :user"]
        if pagination.cursor:
            where.append("c.updated_at < (SELECT updated_at FROM conversations WHERE id = :cursor)")
            params["cursor"] = pagination.cursor
        if filters.search:
            where.append(
                "(c.title ILIKE :search OR EXISTS (SELECT 1 FROM chat_messages m"
                " WHERE m.conversation_id = c.id AND m.content ILIKE :search))"
            )
            params["search"] = f"%{filters.search}%"
        if filters.feedback is not None:
            where.append(
                "EXISTS (SELECT 1 FROM message_feedback f JOIN chat_messages m ON"
                " m.id = f.message_id WHERE m.conversation_id = c.id AND f.value = :fb)"
            )
            params["fb"] = 1 if filters.feedback == 1 else -1
        async with self.db.transaction(organization_id) as connection:
            rows = await fetch_all(
                connection,
                "SELECT c.id, c.title, c.created_at, c.metadata, c.tags, u.email FROM"
                " conversations c LEFT JOIN users u ON u.id = c.user_id WHERE "
                + " AND ".join(where)
                + " ORDER BY c.updated_at DESC LIMIT :limit",
                params,
            )
        more = len(rows) > pagination.first
        rows = rows[: pagination.first]
        data = [
            {
                "id": str(r["id"]),
                "createdAt": _iso(r["created_at"]),
                "name": r["title"],
                "userId": filters.userId,
                "userIdentifier": r["email"],
                "tags": r["tags"],
                "metadata": r["metadata"],
                "steps": [],
                "elements": [],
            }
            for r in rows
        ]
        end = data[-1]["id"] if data else None
        return PaginatedResponse(PageInfo(more, data[0]["id"] if data else None, end), data)

    async def delete_thread(self, thread_id: str) -> None:
        organization_id = await self.organization_of(thread_id)
        if organization_id is None:
            return
        async with self.db.transaction(organization_id) as connection:
            await execute(connection, "DELETE FROM conversations WHERE id = :id", {"id": thread_id})
        self._organization_of.pop(thread_id, None)

    # Steps ---------------------------------------------------------------------------

    async def create_step(self, step_dict: dict) -> None:
        await self._write_step(step_dict)

    async def update_step(self, step_dict: dict) -> None:
        await self._write_step(step_dict)

    async def _write_step(self, step: dict) -> None:
        thread_id = step.get("threadId")
        organization_id = await self.organization_of(thread_id) if thread_id else None
        if (
            organization_id is None
            and thread_id
            and step.get("type") in USER_STEP_TYPES
            and _session_chat_user_id()
        ):
            # Chainlit may write a question before it writes the thread: store the thread
            # first. Only a question starts a conversation; opening the chat does not.
            await self.update_thread(thread_id, user_id=_session_chat_user_id())
            organization_id = await self.organization_of(thread_id)
        if organization_id is None:
            log.debug("step %s of an unknown thread was not stored", step.get("id"))
            return
        step_type = step.get("type") or "assistant_message"
        role = "user" if step_type in USER_STEP_TYPES else "assistant"
        if step_type not in USER_STEP_TYPES and step_type != "assistant_message":
            role = "tool"
        content = step.get("output") or step.get("input") or ""
        metadata = {k: v for k, v in (step.get("metadata") or {}).items() if _jsonable(v)}
        for key in ("showInput", "language", "isError", "defaultOpen"):
            if step.get(key) is not None:
                metadata[f"chainlit_{key}"] = step[key]
        metadata["chainlit_input"] = step.get("input") or ""
        async with self.db.transaction(organization_id) as connection:
            await execute(
                connection,
                "INSERT INTO chat_messages (id, organization_id, conversation_id, parent_id, role,"
                " step_type, name, content, sql, metadata, started_at, ended_at) VALUES (:id,"
                " :org, :conv, :parent, :role, :type, :name, :content, :sql,"
                " CAST(:meta AS jsonb), :start, :end) ON CONFLICT (id) DO UPDATE SET"
                " content = CASE WHEN EXCLUDED.content = '' THEN chat_messages.content"
                " ELSE EXCLUDED.content END, name = EXCLUDED.name,"
                " sql = coalesce(EXCLUDED.sql, chat_messages.sql),"
                " metadata = chat_messages.metadata || EXCLUDED.metadata,"
                " ended_at = coalesce(EXCLUDED.ended_at, chat_messages.ended_at)",
                {
                    "id": step["id"],
                    "org": organization_id,
                    "conv": thread_id,
                    "parent": step.get("parentId"),
                    "role": role,
                    "type": step_type,
                    "name": step.get("name") or "",
                    "content": content,
                    "sql": metadata.get("sql"),
                    "meta": as_json(metadata),
                    "start": _parse_time(step.get("createdAt") or step.get("start")),
                    "end": _parse_time(step.get("end")),
                },
            )
            await execute(
                connection,
                "UPDATE conversations SET updated_at = now() WHERE id = :id",
                {"id": thread_id},
            )

    async def delete_step(self, step_id: str) -> None:
        # Chainlit gives no thread here; the session's user names the organization.
        organization_id = _session_organization()
        if organization_id is None:
            return
        async with self.db.transaction(organization_id) as connection:
            await execute(connection, "DELETE FROM chat_messages WHERE id = :id", {"id": step_id})

    # Feedback ------------------------------------------------------------------------

    async def upsert_feedback(self, feedback: Feedback) -> str:
        organization_id = (
            await self.organization_of(feedback.threadId) if feedback.threadId else None
        ) or _session_organization()
        if organization_id is None:
            raise ValueError("feedback for a message of no known conversation")
        value = 1 if feedback.value == 1 else -1
        async with self.db.transaction(organization_id) as connection:
            row = await fetch_one(
                connection,
                "INSERT INTO message_feedback (organization_id, message_id, user_id, value,"
                " comment) VALUES (:org, :msg, :user, :value, :comment)"
                " ON CONFLICT (message_id) DO UPDATE SET value = EXCLUDED.value,"
                " comment = EXCLUDED.comment RETURNING id",
                {
                    "org": organization_id,
                    "msg": feedback.forId,
                    "user": _session_user(),
                    "value": value,
                    "comment": feedback.comment,
                },
            )
            approved = await self._approved_pair(connection, feedback.forId) if value > 0 else None
        assert row is not None
        if approved and self.on_approved:
            connection_name, question, sql = approved
            try:
                await self.on_approved(
                    organization_id, _session_user(), connection_name, question, sql
                )
            except Exception:  # noqa: BLE001 - the feedback itself is stored either way
                log.exception("could not keep the approved answer as an example")
        return str(row["id"])

    async def _approved_pair(self, connection: Any, message_id: str) -> tuple[str, str, str] | None:
        """(connection name, question, sql) of an answer, when it is one that ran SQL."""
        answer = await fetch_one(
            connection,
            "SELECT conversation_id, created_at, sql, metadata ->> 'connection' AS connection"
            " FROM chat_messages WHERE id = :id",
            {"id": message_id},
        )
        if not answer or not answer["sql"] or not answer["connection"]:
            return None
        question = await fetch_one(
            connection,
            "SELECT content FROM chat_messages WHERE conversation_id = :c AND role = 'user'"
            " AND created_at <= :t ORDER BY created_at DESC LIMIT 1",
            {"c": answer["conversation_id"], "t": answer["created_at"]},
        )
        if not question or not question["content"].strip():
            return None
        return answer["connection"], question["content"], answer["sql"]

    async def delete_feedback(self, feedback_id: str) -> bool:
        organization_id = _session_organization()
        if organization_id is None:
            return False
        async with self.db.transaction(organization_id) as connection:
            await execute(
                connection, "DELETE FROM message_feedback WHERE id = :id", {"id": feedback_id}
            )
        return True

    # Elements and the rest -----------------------------------------------------------

    async def create_element(self, element: Any) -> None:
        # Tables and charts are drawn again from the stored answer; no files are kept.
        return None

    async def get_element(self, thread_id: str, element_id: str) -> dict | None:
        return None

    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        return None

    async def get_favorite_steps(self, user_id: str) -> list[dict]:
        return []

    async def set_step_favorite(self, step_dict: dict, favorite: bool) -> dict:
        return step_dict

    def build_debug_url(self) -> str:
        return ""

    async def close(self) -> None:
        await self.db.close()


def _step_dict(row: dict[str, Any]) -> dict[str, Any]:
    metadata = dict(row["metadata"] or {})
    step: dict[str, Any] = {
        "id": str(row["id"]),
        "threadId": str(row["conversation_id"]),
        "parentId": str(row["parent_id"]) if row["parent_id"] else None,
        "name": row["name"],
        "type": row["step_type"],
        "input": metadata.pop("chainlit_input", ""),
        "output": row["content"],
        "metadata": metadata,
        "createdAt": _iso(row["started_at"] or row["created_at"]),
        "start": _iso(row["started_at"]),
        "end": _iso(row["ended_at"]),
        "streaming": False,
        "showInput": metadata.pop("chainlit_showInput", None),
        "language": metadata.pop("chainlit_language", None),
        "isError": metadata.pop("chainlit_isError", False),
        "defaultOpen": metadata.pop("chainlit_defaultOpen", False),
    }
    if row.get("feedback_id"):
        step["feedback"] = {
            "id": str(row["feedback_id"]),
            "forId": str(row["id"]),
            "value": 1 if row["feedback_value"] == 1 else 0,
            "comment": row["feedback_comment"],
        }
    return step


def _answer_elements(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The CSV and chart of a stored answer, served again by the /elements routes."""
    metadata = row["metadata"] or {}
    if not metadata.get("result"):
        return []
    message_id, thread_id = str(row["id"]), str(row["conversation_id"])
    elements = [
        {
            "id": f"{message_id}-csv",
            "threadId": thread_id,
            "forId": message_id,
            "type": "file",
            "name": "result.csv",
            "display": "inline",
            "mime": "text/csv",
            "url": f"/elements/{message_id}/result.csv",
        }
    ]
    if metadata.get("chart"):
        elements.append(
            {
                "id": f"{message_id}-chart",
                "threadId": thread_id,
                "forId": message_id,
                "type": "plotly",
                "name": "chart",
                "display": "inline",
                "mime": "application/json",
                "url": f"/elements/{message_id}/chart.json",
            }
        )
    return elements


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _session_user_fields() -> dict[str, str]:
    try:
        from chainlit.context import context

        user = context.session.user
    except Exception:  # noqa: BLE001 - no Chainlit session in this call
        return {}
    return dict(user.metadata or {}) if user else {}


def _session_chat_user_id() -> str | None:
    fields = _session_user_fields()
    if fields.get("organization_id") and fields.get("user_id"):
        return chat_user_id(UUID(fields["organization_id"]), UUID(fields["user_id"]))
    return None


def _session_organization() -> UUID | None:
    value = _session_user_fields().get("organization_id")
    return UUID(value) if value else None


def _session_user() -> UUID | None:
    value = _session_user_fields().get("user_id")
    return UUID(value) if value else None
