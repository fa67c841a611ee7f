"""Chainlit entry point: hooks only; the work happens in dana.chat."""

from __future__ import annotations

from typing import Any

import chainlit as cl

from dana.chat import handlers


@cl.data_layer
def data_layer() -> Any:
    return handlers.data_layer()


@cl.password_auth_callback
async def login(username: str, password: str) -> cl.User | None:
    return await handlers.authenticate(username, password)


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    return await handlers.starters()


@cl.on_chat_start
async def start() -> None:
    await handlers.start()


@cl.on_chat_resume
async def resume(thread: Any) -> None:
    await handlers.resume(thread)


@cl.on_settings_update
async def settings(values: dict[str, Any]) -> None:
    await handlers.settings_changed(values)


@cl.action_callback("follow_up")
async def follow_up(action: cl.Action) -> None:
    await handlers.follow_up(action)


@cl.on_message
async def message(incoming: cl.Message) -> None:
    await handlers.message(incoming)
