"""Organizations, users and API keys."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from dana.db.audit import Actor, audit, security_event
from dana.db.session import Database, as_json, execute, fetch_all, fetch_one
from dana.errors import DanaError, NotFound

ROLES = ("admin", "analyst", "reviewer")
KEY_PREFIX = "dana_"
UNIQUE_VIOLATION = "23505"
_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    id: UUID
    organization_id: UUID
    email: str
    name: str
    role: str
    organization_slug: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(organization_id=self.organization_id, user_id=self.id)


def require_role(role: str) -> None:
    if role not in ROLES:
        raise DanaError(f"unknown role {role!r}; the roles are {', '.join(ROLES)}")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def _is_duplicate(error: IntegrityError) -> bool:
    return getattr(error.orig, "sqlstate", None) == UNIQUE_VIOLATION


async def create_organization(db: Database, name: str, slug: str, plan: str = "free") -> UUID:
    organization_id = uuid.uuid4()
    try:
        async with db.transaction(organization_id) as connection:
            await execute(
                connection,
                "INSERT INTO organizations (id, name, slug, plan) VALUES (:p1, :p2, :p3, :p4)",
                {"p1": organization_id, "p2": name, "p3": slug, "p4": plan},
            )
            await audit(
                connection,
                Actor(organization_id),
                "organization.create",
                "organization",
                str(organization_id),
                {"slug": slug},
            )
    except IntegrityError as error:
        if _is_duplicate(error):
            raise DanaError(f"an organization with the slug {slug!r} already exists") from error
        raise
    return organization_id


async def find_organization(db: Database, slug: str) -> UUID | None:
    async with db.transaction(None, org_slug=slug) as connection:
        row = await fetch_one(
            connection, "SELECT id FROM organizations WHERE slug = :s", {"s": slug}
        )
    return row["id"] if row else None


async def require_organization(db: Database, slug: str) -> UUID:
    organization_id = await find_organization(db, slug)
    if organization_id is None:
        raise NotFound(f"there is no organization with the slug {slug!r}")
    return organization_id


PLANS = ("free", "team", "enterprise")


async def update_organization(
    db: Database,
    organization_id: UUID,
    plan: str | None = None,
    settings: dict | None = None,
    by: Actor | None = None,
) -> None:
    """Change an organization's plan and settings (merged into the stored ones), audited."""
    if plan is not None and plan not in PLANS:
        raise DanaError(f"unknown plan {plan!r}; the plans are {', '.join(PLANS)}")
    async with db.transaction(organization_id) as connection:
        await execute(
            connection,
            "UPDATE organizations SET plan = coalesce(:plan, plan),"
            " settings = settings || CAST(:settings AS jsonb) WHERE id = :id",
            {"plan": plan, "settings": as_json(settings or {}), "id": organization_id},
        )
        await audit(
            connection,
            by or Actor(organization_id),
            "organization.settings",
            "organization",
            str(organization_id),
            {"plan": plan, **(settings or {})},
        )


async def delete_organization(db: Database, organization_id: UUID) -> None:
    async with db.transaction(organization_id) as connection:
        await execute(
            connection,
            "DELETE FROM organizations WHERE id = :p1",
            {"p1": organization_id},
        )


async def add_user(
    db: Database,
    organization_id: UUID,
    email: str,
    role: str,
    password: str | None = None,
    name: str = "",
    by: Actor | None = None,
) -> UUID:
    require_role(role)
    try:
        async with db.transaction(organization_id) as connection:
            row = await fetch_one(
                connection,
                "INSERT INTO users (organization_id, email, name, role, password_hash)"
                " VALUES (:org, :email, :name, :role, :hash) RETURNING id",
                {
                    "org": organization_id,
                    "email": email.strip(),
                    "name": name or email.split("@")[0],
                    "role": role,
                    "hash": hash_password(password) if password else None,
                },
            )
            assert row is not None
            await audit(
                connection,
                by or Actor(organization_id),
                "user.create",
                "user",
                str(row["id"]),
                {"email": email, "role": role},
            )
    except IntegrityError as error:
        # Emails are unique across organizations: signing in names no organization.
        if _is_duplicate(error):
            raise DanaError(f"a user with the email {email} already exists") from error
        raise
    return row["id"]


async def set_role(
    db: Database, organization_id: UUID, email: str, role: str, by: Actor | None = None
) -> None:
    require_role(role)
    async with db.transaction(organization_id) as connection:
        row = await fetch_one(
            connection,
            "UPDATE users SET role = :role WHERE lower(email) = lower(:email) RETURNING id",
            {"role": role, "email": email},
        )
        if row is None:
            raise NotFound(f"there is no user with the email {email} in this organization")
        await audit(
            connection,
            by or Actor(organization_id),
            "user.role",
            "user",
            str(row["id"]),
            {"email": email, "role": role},
        )


async def user_exists(db: Database, email: str) -> bool:
    async with db.transaction(None, login_email=email) as connection:
        row = await fetch_one(
            connection, "SELECT 1 FROM users WHERE lower(email) = lower(:e)", {"e": email}
        )
    return row is not None


async def set_password(db: Database, organization_id: UUID, email: str, password: str) -> None:
    async with db.transaction(organization_id) as connection:
        await execute(
            connection,
            "UPDATE users SET password_hash = :p1 WHERE lower(email) = lower(:p2)",
            {"p1": hash_password(password), "p2": email},
        )
        await audit(connection, Actor(organization_id), "user.password", "user", email)


async def authenticate(
    db: Database, email: str, password: str, ip: str | None = None
) -> User | None:
    """The user whose email and password these are, or None; failures are security events."""
    async with db.transaction(None, login_email=email) as connection:
        row = await fetch_one(
            connection,
            "SELECT id, organization_id, email, name, role, password_hash, is_active FROM users"
            " WHERE lower(email) = lower(:e)",
            {"e": email},
        )
    if row is None:
        return None
    ok = bool(row["password_hash"]) and row["is_active"] and _verify(row["password_hash"], password)
    actor = Actor(row["organization_id"], row["id"], ip=ip)
    async with db.transaction(row["organization_id"]) as connection:
        if not ok:
            await security_event(connection, actor, "login.failed", "medium", {"email": email})
            return None
        await execute(
            connection,
            "UPDATE users SET last_login_at = now() WHERE id = :p1",
            {"p1": row["id"]},
        )
        await audit(connection, actor, "user.login", "user", str(row["id"]))
    return await get_user(db, row["organization_id"], row["id"])


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def get_user(db: Database, organization_id: UUID, user_id: UUID) -> User:
    async with db.transaction(organization_id) as connection:
        row = await fetch_one(
            connection,
            "SELECT u.id, u.organization_id, u.email, u.name, u.role, o.slug FROM users u"
            " JOIN organizations o ON o.id = u.organization_id WHERE u.id = :id",
            {"id": user_id},
        )
    if row is None:
        raise NotFound("that user does not exist in this organization")
    return User(
        row["id"], row["organization_id"], row["email"], row["name"], row["role"], row["slug"]
    )


async def find_user(db: Database, email: str) -> User | None:
    async with db.transaction(None, login_email=email) as connection:
        row = await fetch_one(
            connection,
            "SELECT id, organization_id FROM users WHERE lower(email) = lower(:e)",
            {"e": email},
        )
    if row is None:
        return None
    return await get_user(db, row["organization_id"], row["id"])


async def list_users(db: Database, organization_id: UUID) -> list[dict]:
    async with db.transaction(organization_id) as connection:
        return await fetch_all(
            connection,
            "SELECT email, name, role, is_active, last_login_at, created_at FROM users"
            " ORDER BY email",
        )


def _key_hash(key: str) -> str:
    # API keys are long random strings, so a fast hash is enough (unlike passwords).
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_key(
    db: Database,
    user: User,
    name: str,
    scopes: tuple[str, ...] = ("ask", "query"),
    expires_at: datetime | None = None,
) -> str:
    """A new key for `user`; only its hash is stored, so this is the one time it is seen."""
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    try:
        async with db.transaction(user.organization_id) as connection:
            await execute(
                connection,
                "INSERT INTO api_keys (organization_id, user_id, name, prefix, key_hash, scopes,"
                " expires_at) VALUES (:org, :user, :name, :prefix, :hash, :scopes, :expires)",
                {
                    "org": user.organization_id,
                    "user": user.id,
                    "name": name,
                    "prefix": prefix,
                    "hash": _key_hash(key),
                    "scopes": list(scopes),
                    "expires": expires_at,
                },
            )
            await audit(connection, user.actor, "api_key.create", "api_key", name)
    except IntegrityError as error:
        # Revoked keys keep their name, so that the audit trail stays unambiguous.
        if _is_duplicate(error):
            raise DanaError(f"an API key named {name!r} already exists") from error
        raise
    return key


async def revoke_api_key(db: Database, organization_id: UUID, name: str) -> None:
    async with db.transaction(organization_id) as connection:
        row = await fetch_one(
            connection,
            "UPDATE api_keys SET revoked_at = now() WHERE name = :n AND revoked_at IS NULL"
            " RETURNING id",
            {"n": name},
        )
        if row is None:
            raise NotFound(f"there is no active API key named {name!r}")
        await audit(connection, Actor(organization_id), "api_key.revoke", "api_key", name)


async def user_for_api_key(db: Database, key: str) -> User | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or f"{parts[0]}_" != KEY_PREFIX:
        return None
    prefix = parts[1]
    async with db.transaction(None, api_key_prefix=prefix) as connection:
        row = await fetch_one(
            connection,
            "SELECT id, organization_id, user_id, key_hash FROM api_keys WHERE prefix = :p"
            " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
            {"p": prefix},
        )
    if row is None or not secrets.compare_digest(row["key_hash"], _key_hash(key)):
        return None
    async with db.transaction(row["organization_id"]) as connection:
        # A deactivated user's keys stop working, as their password does.
        used = await fetch_one(
            connection,
            "UPDATE api_keys k SET last_used_at = now() FROM users u"
            " WHERE k.id = :p1 AND u.id = k.user_id AND u.is_active RETURNING k.id",
            {"p1": row["id"]},
        )
    if used is None:
        return None
    return await get_user(db, row["organization_id"], row["user_id"])
