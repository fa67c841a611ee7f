"""The audit trail (who changed what) and security events (what was refused or suspicious)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from dana.db.session import as_json, execute

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """Who is acting, and from where."""

    organization_id: UUID
    user_id: UUID | None = None
    ip: str | None = None
    user_agent: str | None = None


async def audit(
    connection: AsyncConnection,
    actor: Actor,
    action: str,
    resource_type: str = "",
    resource_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    await execute(
        connection,
        "INSERT INTO audit_logs (organization_id, user_id, action, resource_type, resource_id,"
        " data, ip, user_agent) VALUES (:org, :user, :action, :rtype, :rid,"
        " CAST(:data AS jsonb), :ip, :ua)",
        {
            "org": actor.organization_id,
            "user": actor.user_id,
            "action": action,
            "rtype": resource_type,
            "rid": resource_id,
            "data": as_json(data or {}),
            "ip": actor.ip,
            "ua": actor.user_agent,
        },
    )


async def security_event(
    connection: AsyncConnection,
    actor: Actor,
    kind: str,
    severity: str = "medium",
    detail: dict[str, Any] | None = None,
) -> None:
    log.warning("security event %s (%s) in organization %s", kind, severity, actor.organization_id)
    await execute(
        connection,
        "INSERT INTO security_events (organization_id, user_id, kind, severity, detail, ip,"
        " user_agent) VALUES (:org, :user, :kind, :severity, CAST(:detail AS jsonb), :ip, :ua)",
        {
            "org": actor.organization_id,
            "user": actor.user_id,
            "kind": kind,
            "severity": severity,
            "detail": as_json(detail or {}),
            "ip": actor.ip,
            "ua": actor.user_agent,
        },
    )
