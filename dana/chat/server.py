"""Serving the Chainlit app (`app.py`) with uvicorn, as `dana serve` does."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dana.config import get_settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _auth_secret(data_dir: Path) -> str:
    """The secret that signs login tokens: from the environment, or kept in the data folder."""
    if os.environ.get("CHAINLIT_AUTH_SECRET"):
        return os.environ["CHAINLIT_AUTH_SECRET"]
    path = data_dir / "chainlit-auth-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def prepare_environment() -> None:
    settings = get_settings()
    os.environ["CHAINLIT_AUTH_SECRET"] = _auth_secret(settings.data_dir.resolve())
    os.environ.setdefault("CHAINLIT_APP_ROOT", str(PROJECT_ROOT))
    # Our data layer keeps the history; Chainlit must not attach tables of its own.
    os.environ.pop("DATABASE_URL", None)


async def serve(host: str, port: int) -> None:
    prepare_environment()
    import uvicorn
    from chainlit.auth import ensure_jwt_secret
    from chainlit.config import config, load_module
    from chainlit.server import app

    config.run.host = host
    config.run.port = port
    config.run.headless = True
    config.run.module_name = str(PROJECT_ROOT / "app.py")
    load_module(config.run.module_name)
    ensure_jwt_secret()

    from dana.api.routes import add_api, add_routes_first
    from dana.chat.handlers import runtime
    from dana.chat.review import build_review_router

    add_api(app, runtime)
    add_routes_first(app, build_review_router(runtime))
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    await server.serve()
