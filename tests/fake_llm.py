"""A local stand-in for hosted language models, for tests: a real HTTP server on 127.0.0.1.

It speaks the two wire formats DANA uses, OpenAI's `POST /v1/chat/completions` and
Anthropic's `POST /v1/messages`, and answers from a script of replies, one per request,
in order. Every request it received is kept, so a test can read the prompt that was sent.

    with FakeLLM([Reply("SELECT 1")]) as llm:
        translator = OpenAICompatibleTranslator(llm.openai_url, "m", "key", 5)
        ...
        assert "SELECT" in llm.requests[0].prompt
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a text with its token counts, or an HTTP error after a delay."""

    text: str = ""
    status: int = 200
    delay_s: float = 0.0
    tokens_in: int = 120
    tokens_out: int = 30
    error: str = "scripted failure"


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        """Every text the request carried (system prompt and messages), joined."""
        parts = [_text(self.body.get("system"))]
        parts += [_text(message.get("content")) for message in self.body.get("messages", [])]
        return "\n".join(part for part in parts if part)


@dataclass
class FakeLLM:
    replies: Iterable[Reply] = ()
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: deque[Reply] = deque(self.replies)
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        """The base URL an OpenAI client expects: it appends `/chat/completions`."""
        return f"{self.base_url}/v1"

    def script(self, *replies: Reply) -> None:
        self._script.extend(replies)

    def next_reply(self) -> Reply:
        if not self._script:
            return Reply(status=500, error="the fake language model has no scripted reply left")
        return self._script.popleft()

    def wait(self, seconds: float) -> None:
        # An event rather than sleep, so closing the server frees a delayed handler at once.
        self._released.wait(seconds)

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()


def _handler_for(llm: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            path = urlsplit(self.path).path
            headers = {name.lower(): value for name, value in self.headers.items()}
            llm.requests.append(Received(path, headers, body))

            reply = llm.next_reply()
            if reply.delay_s:
                llm.wait(reply.delay_s)

            if path == "/v1/chat/completions":
                self._send(reply.status, _openai_body(reply, body))
            elif path == "/v1/messages":
                self._send(reply.status, _anthropic_body(reply, body))
            else:
                self._send(404, {"error": {"message": f"no route {path}"}})

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as a timeout test intends

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output quiet

    return Handler


def _openai_body(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    if reply.status != 200:
        return {"error": {"message": reply.error, "type": "server_error", "code": None}}
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": reply.tokens_in,
            "completion_tokens": reply.tokens_out,
            "total_tokens": reply.tokens_in + reply.tokens_out,
        },
    }


def _anthropic_body(reply: Reply, request: dict[str, Any]) -> dict[str, Any]:
    if reply.status != 200:
        return {"type": "error", "error": {"type": "api_error", "message": reply.error}}
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": request.get("model", ""),
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": reply.tokens_in, "output_tokens": reply.tokens_out},
    }


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks: [{"type": "text", "text": ...}]
        return "\n".join(block.get("text", "") for block in content if isinstance(block, dict))
    return ""
