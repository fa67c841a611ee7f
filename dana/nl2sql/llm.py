"""Translators backed by a language model: any OpenAI-compatible server, or Anthropic.

Both send the same prompts (see `dana.nl2sql.prompting`), log one INFO line per call with
its tokens and time, and turn every provider failure (timeout, refused connection, HTTP
error, bad key) into `TranslationFailed`, so the pipeline can fall back to the offline
translator. The API key goes to the SDK client and nowhere else: not into messages, not
into the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anthropic
import openai

from dana.errors import ConfigError, TranslationFailed
from dana.nl2sql.base import Request, Translation, Translator
from dana.nl2sql.prompting import Prompt, build_prompt, extract_sql, read_reply

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

    from dana.config import Settings

__all__ = [
    "AnthropicTranslator",
    "OpenAICompatibleTranslator",
    "Usage",
    "extract_sql",
    "make_translator",
]

logger = logging.getLogger(__name__)

# Local servers (Ollama, llama.cpp, LM Studio) ignore the key, but the SDK wants one.
NO_KEY = "no-key"
ANTHROPIC_MAX_TOKENS = 1024

_API_ERRORS = (openai.APIError, anthropic.APIError)
_TIMEOUTS = (openai.APITimeoutError, anthropic.APITimeoutError)
_UNREACHABLE = (openai.APIConnectionError, anthropic.APIConnectionError)
_HTTP_ERRORS = (openai.APIStatusError, anthropic.APIStatusError)


@dataclass(frozen=True)
class Usage:
    """What one call to the model cost: tokens (when the provider reports them) and time."""

    model: str
    tokens_in: int | None
    tokens_out: int | None
    elapsed_ms: int

    def notes(self) -> tuple[str, ...]:
        return (
            f"model={self.model}",
            f"tokens_in={_count(self.tokens_in)}",
            f"tokens_out={_count(self.tokens_out)}",
            f"elapsed_ms={self.elapsed_ms}",
        )


@dataclass(frozen=True)
class Completion:
    text: str
    tokens_in: int | None
    tokens_out: int | None


class ModelTranslator:
    """The steps both providers share; a subclass only knows how to call its API."""

    name = "model"

    def __init__(self, model: str, timeout_s: float, host: str) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self.host = host  # for messages: a host name never carries credentials
        # The latest call only; concurrent questions should read `Translation.notes`.
        self.last_usage: Usage | None = None

    async def translate(self, request: Request) -> Translation:
        prompt = build_prompt(request)
        logger.debug("prompt to %s:\n%s\n---\n%s", self.model, prompt.system, prompt.user)

        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                completion = await self.complete(prompt)
        except (TimeoutError, *_API_ERRORS) as error:
            self.last_usage = Usage(self.model, None, None, _ms_since(started))
            failure = self.failure(error)
            logger.warning(
                "llm call failed provider=%s model=%s ms=%d: %s",
                self.name,
                self.model,
                self.last_usage.elapsed_ms,
                failure.detail,
            )
            raise failure from None

        usage = Usage(self.model, completion.tokens_in, completion.tokens_out, _ms_since(started))
        self.last_usage = usage
        logger.info(
            "llm call provider=%s model=%s tokens_in=%s tokens_out=%s ms=%d",
            self.name,
            self.model,
            _count(usage.tokens_in),
            _count(usage.tokens_out),
            usage.elapsed_ms,
        )
        logger.debug("reply from %s:\n%s", self.model, completion.text)
        return read_reply(completion.text, translator=self.name, notes=usage.notes())

    async def complete(self, prompt: Prompt) -> Completion:
        raise NotImplementedError

    def failure(self, error: Exception) -> TranslationFailed:
        """A plain message for the user; the detail for the log, without the provider's body.

        Bodies are left out because some providers echo part of a rejected key.
        """
        kind = type(error).__name__
        if isinstance(error, (TimeoutError, *_TIMEOUTS)):
            return TranslationFailed(
                f"the language model did not answer in {self.timeout_s:g} s",
                detail=f"{kind} after {self.timeout_s:g} s from {self.host}",
            )
        if isinstance(error, _UNREACHABLE):
            cause = type(error.__cause__).__name__ if error.__cause__ else "no cause"
            return TranslationFailed(
                f"the language model at {self.host} could not be reached",
                detail=f"{kind} ({cause}) to {self.host}",
            )
        if isinstance(error, _HTTP_ERRORS):
            return TranslationFailed(
                _http_message(error.status_code, self.model),
                detail=f"{kind} HTTP {error.status_code} from {self.host}, model {self.model}",
            )
        return TranslationFailed("the language model failed", detail=f"{kind} from {self.host}")


class OpenAICompatibleTranslator(ModelTranslator):
    """Chat completions: OpenAI, Azure-compatible, Ollama, vLLM, LM Studio, llama.cpp server."""

    name = "openai"

    def __init__(
        self,
        base_url: str | None,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        temperature: float | None = 0.0,
    ) -> None:
        super().__init__(model, timeout_s, _host(base_url or "https://api.openai.com/v1"))
        self.temperature = temperature
        # Retries are left to the pipeline: one retry would double the wait the user sees.
        self.client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or NO_KEY, timeout=timeout_s, max_retries=0
        )

    async def complete(self, prompt: Prompt) -> Completion:
        try:
            response = await self._create(prompt)
        except openai.BadRequestError as error:
            # Reasoning models (o1, gpt-5...) accept only their default temperature.
            if self.temperature is None or "temperature" not in str(error.message).lower():
                raise
            logger.info("model %s refuses a temperature; asking again without one", self.model)
            self.temperature = None
            response = await self._create(prompt)

        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return Completion(
            text=(choice.message.content or "") if choice else "",
            tokens_in=usage.prompt_tokens if usage else None,
            tokens_out=usage.completion_tokens if usage else None,
        )

    async def _create(self, prompt: Prompt) -> ChatCompletion:
        options = {} if self.temperature is None else {"temperature": self.temperature}
        return await self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": prompt.system},
                {"role": "user", "content": prompt.user},
            ],
            **options,
        )


class AnthropicTranslator(ModelTranslator):
    """Messages API of Anthropic (or a server speaking it at `base_url`)."""

    name = "anthropic"

    def __init__(
        self,
        model: str,
        api_key: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_tokens: int = ANTHROPIC_MAX_TOKENS,
    ) -> None:
        super().__init__(model, timeout_s, _host(base_url or "https://api.anthropic.com"))
        self.max_tokens = max_tokens
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    async def complete(self, prompt: Prompt) -> Completion:
        response = await self.client.messages.create(
            model=self.model,
            max_tokens=self.max_tokens,
            system=prompt.system,
            messages=[{"role": "user", "content": prompt.user}],
        )
        text = "".join(block.text for block in response.content if block.type == "text")
        usage = response.usage
        return Completion(
            text=text,
            tokens_in=usage.input_tokens if usage else None,
            tokens_out=usage.output_tokens if usage else None,
        )


def make_translator(settings: Settings) -> Translator:
    """The translator `settings.llm_provider` names: offline, openai or anthropic."""
    provider = settings.llm_provider.strip().lower()
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None

    if provider == "offline":
        from dana.nl2sql.offline import OfflineTranslator

        return OfflineTranslator()
    if provider not in ("openai", "anthropic"):
        raise ConfigError(
            f"the LLM provider {provider!r} is unknown; use offline, openai or anthropic"
        )
    if not settings.llm_model:
        raise ConfigError(f"the LLM provider {provider} needs a model name in DANA_LLM_MODEL")
    if provider == "openai":
        return OpenAICompatibleTranslator(
            settings.llm_base_url, settings.llm_model, api_key, settings.llm_timeout_s
        )
    if not api_key:
        raise ConfigError("the LLM provider anthropic needs an API key in DANA_LLM_API_KEY")
    return AnthropicTranslator(
        settings.llm_model, api_key, settings.llm_base_url, settings.llm_timeout_s
    )


def _http_message(status: int, model: str) -> str:
    if status in (401, 403):
        return f"the language model refused the API key (HTTP {status}); check DANA_LLM_API_KEY"
    if status == 404:
        return f"the language model {model} was not found (HTTP 404); check DANA_LLM_MODEL"
    if status == 429:
        return "the language model is busy or over its quota (HTTP 429); try again shortly"
    if status >= 500:
        return f"the language model failed (HTTP {status})"
    return f"the language model rejected the request (HTTP {status})"


def _host(url: str) -> str:
    """The host and port of `url`, without user, password, path or query."""
    parts = urlsplit(url)
    host = parts.hostname or "the configured server"
    return f"{host}:{parts.port}" if parts.port else host


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _count(tokens: int | None) -> str:
    return "?" if tokens is None else str(tokens)
