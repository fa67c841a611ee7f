"""The REST API: the same questions and queries as the chat, authorised by API keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field

from dana.db import accounts
from dana.db.accounts import User
from dana.runtime import DEMO_CONNECTION, Runtime


class AskBody(BaseModel):
    question: str = Field(min_length=1, max_length=2000)
    connection: str = DEMO_CONNECTION


class QueryBody(BaseModel):
    sql: str = Field(min_length=1, max_length=20000)
    connection: str = DEMO_CONNECTION


def build_router(runtime: Callable[[], Runtime]) -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    async def current_user(request: Request, authorization: str = Header(default="")) -> User:
        key = authorization.removeprefix("Bearer ").strip()
        user = await accounts.user_for_api_key(runtime().db, key) if key else None
        if user is None:
            raise HTTPException(401, "a valid API key is needed: Authorization: Bearer <key>")
        request.state.actor = replace(
            user.actor,
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
        return user

    @router.post("/ask")
    async def ask(
        request: Request, body: AskBody, user: User = Depends(current_user)
    ) -> dict[str, Any]:
        answer = await runtime().pipeline.ask(request.state.actor, body.connection, body.question)
        return answer.to_json()

    @router.post("/query")
    async def query(
        request: Request, body: QueryBody, user: User = Depends(current_user)
    ) -> dict[str, Any]:
        if user.role == "reviewer":
            raise HTTPException(403, "reviewers read conversations; they do not run SQL")
        answer = await runtime().pipeline.run_sql(request.state.actor, body.connection, body.sql)
        return answer.to_json()

    @router.get("/connections")
    async def connections(user: User = Depends(current_user)) -> list[dict[str, Any]]:
        rows = await runtime().registry.list(user.organization_id)
        return [{k: (str(v) if v is not None else None) for k, v in r.items()} for r in rows]

    return router


def add_api(app: FastAPI, runtime: Callable[[], Runtime]) -> None:
    add_routes_first(app, build_router(runtime))


def add_routes_first(app: FastAPI, router: APIRouter) -> None:
    """Put `router`'s routes in front of the app's own, so a catch-all UI route cannot hide
    them."""
    before = len(app.router.routes)
    app.include_router(router)
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
