"""Sentence embeddings with a (model, sha256 of text) cache, so every text is embedded once.

Encoding runs where the hardware is (config `device`: a CUDA or Apple GPU when torch sees one,
else the CPU), with a batch size per device. On the CPU it can run through ONNX Runtime
(config `backend = "onnx"`, retrieval/onnx.py): the model is exported from its local folder on first
use and kept in the home. Both backends are an encoders.Encoder; `open_encoder` picks one.
Large jobs (an index build) are streamed in chunks that go into the cache as they finish, so an
interrupted build resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import numpy as np

from .encoders import Encoder, load_model, resolve_model

log = logging.getLogger(__name__)
_LOCK = threading.Lock()
DEVICES = ("auto", "cpu", "cuda", "mps")
BACKENDS = ("torch", "onnx")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pick_device(wanted: str, torch_module=None) -> str:
    """The torch device to encode on for config `device` (auto|cpu|cuda|mps).

    `auto` takes a CUDA GPU, else an Apple GPU (MPS), else the CPU. Asking for a GPU that torch
    does not see is an error naming the key (a silent CPU fallback would turn minutes into a day).
    `torch_module` stands in for torch (tests of the selection on machines without a GPU).
    """
    if wanted not in DEVICES:
        from ..core.errors import ValidationFailed

        raise ValidationFailed("config", [f"device: must be one of {', '.join(DEVICES)}, got {wanted!r}"])
    if torch_module is None:
        import torch as torch_module
    cuda = bool(torch_module.cuda.is_available())
    mps_backend = getattr(getattr(torch_module, "backends", None), "mps", None)
    mps = bool(mps_backend is not None and mps_backend.is_available())
    if wanted == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if (wanted == "cuda" and not cuda) or (wanted == "mps" and not mps):
        from ..core.errors import ValidationFailed

        raise ValidationFailed("config", [f"device: {wanted!r} was asked for but torch "
                                          f"{torch_module.__version__} sees no such GPU; use 'auto' or 'cpu'"])
    return wanted


def open_encoder(model: str, backend: str, device: str, onnx_home: Path, quantize: bool = False) -> Encoder:
    """The encoder of `backend` for the model named `model`: the SentenceTransformer on `device`
    (torch), or its ONNX Runtime export kept under `onnx_home` (CPU; int8 when `quantize`).
    retrieval/onnx.py is imported here only when asked for: ONNX Runtime is an optional dependency."""
    if backend == "onnx":
        from .onnx import onnx_encoder

        return onnx_encoder(resolve_model(model), onnx_home, quantize)
    return load_model(model, device)


def encode_with(model, texts: list[str], batch_size: int = 32) -> np.ndarray:
    """(len(texts), dim) L2-normalized float32 vectors of `texts` under `model` (a
    SentenceTransformer or an onnx.OnnxEncoder); one encode at a time per process (torch on
    2 cores: faster than two contending)."""
    with _LOCK:
        vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


class Embedder:
    """Encodes texts to L2-normalized float32 vectors of shape (n, dim), reading and filling the cache.

    `store` is any object with get_vectors/put_vectors (the Store); `model` a name or path.
    `device` is config `device`; `batch_sizes` maps a device to its batch size (config
    `batch_size`, `batch_size_cuda`, `batch_size_mps`); `backend` "onnx" runs CPU encoding
    through ONNX Runtime with the export kept under `onnx_home` (int8 when `quantize`);
    `chunk` texts are encoded and cached at a time in a large job.
    """

    def __init__(self, model: str, store=None, batch_size: int = 32, device: str = "cpu",
                 backend: str = "torch", onnx_home: str | Path | None = None, quantize: bool = False,
                 chunk: int = 4096, batch_sizes: dict[str, int] | None = None):
        if backend not in BACKENDS:
            from ..core.errors import ValidationFailed

            raise ValidationFailed("config", [f"backend: must be one of {', '.join(BACKENDS)}, got {backend!r}"])
        self.model_name = model
        self.store = store
        self.device_wanted = device
        self.backend_wanted = backend
        self.onnx_home = Path(onnx_home) if onnx_home else None
        self.quantize = quantize
        self.chunk = chunk
        self._batch_sizes = {"cpu": batch_size, **(batch_sizes or {})}
        self.last_embedded = 0  # texts the last encode() call had to embed (cache misses)

    @classmethod
    def from_config(cls, model: str, store, config: dict, home: Path) -> "Embedder":
        return cls(model, store, config["batch_size"], device=config["device"], backend=config["backend"],
                   onnx_home=home / "onnx", quantize=config["onnx_quantize"], chunk=config["index_chunk"],
                   batch_sizes={"cuda": config["batch_size_cuda"], "mps": config["batch_size_mps"]})

    @property
    def cache_key(self) -> str:
        """The model name the cache files vectors under: int8 vectors differ from the model's own
        (cosine ~0.95), so they get their own; fp32 ONNX and GPU vectors equal the CPU's to ~1e-6
        and share them (switching backend or device re-embeds nothing)."""
        return f"{self.model_name}#onnx-int8" if self.backend == "onnx" and self.quantize else self.model_name

    @property
    def device(self) -> str:
        return pick_device(self.device_wanted)

    @property
    def backend(self) -> str:
        """"onnx" only where encoding runs on the CPU: a GPU, when there is one, goes first."""
        return "onnx" if self.backend_wanted == "onnx" and self.device == "cpu" else "torch"

    @property
    def batch_size(self) -> int:
        return self._batch_sizes.get(self.device, self._batch_sizes["cpu"])

    @property
    def model(self):
        """The SentenceTransformer (torch) on the chosen device: what adapter fits and split needs encode with."""
        return load_model(self.model_name, self.device)

    @property
    def encoder(self) -> Encoder:
        """What encodes: the torch model, or its ONNX Runtime export on the CPU."""
        return open_encoder(self.model_name, self.backend, self.device,
                            self.onnx_home or Path(".matchgraph") / "onnx", self.quantize)

    @property
    def dim(self) -> int:
        return int(self.model.get_embedding_dimension())

    def _encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return encode_with(self.encoder, texts, self.batch_size)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Vectors for `texts` in order; only texts missing from the cache are run through the model.

        Cached vectors are read in slices straight into the result; the missing texts are
        encoded `chunk` at a time and each chunk is stored before the next starts, so a build
        killed midway loses at most one chunk and the next run picks up from the cache.
        """
        self.last_embedded = 0
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        hashes = [text_hash(t) for t in texts]
        rows_of: dict[str, list[int]] = {}
        for row, h in enumerate(hashes):
            rows_of.setdefault(h, []).append(row)
        out: np.ndarray | None = None
        missing: list[str] = []  # hashes, in first-seen order
        unique = list(rows_of)
        for start in range(0, len(unique), 50_000):
            part = unique[start:start + 50_000]
            cached = self.store.get_vectors(self.cache_key, part) if self.store else {}
            for h in part:
                vector = cached.get(h)
                if vector is None:
                    missing.append(h)
                    continue
                if out is None:
                    out = np.empty((len(texts), len(vector)), dtype=np.float32)
                out[rows_of[h]] = vector
        if missing:
            first = {h: rows_of[h][0] for h in missing}
            for fresh_hashes, fresh in self._encode_missing([texts[first[h]] for h in missing], missing, progress):
                if out is None:
                    out = np.empty((len(texts), fresh.shape[1]), dtype=np.float32)
                for h, vector in zip(fresh_hashes, fresh):
                    out[rows_of[h]] = vector
            self.last_embedded = len(missing)
        return out

    def _encode_missing(self, texts: list[str], hashes: list[str], progress: bool):
        """Yield (hashes, vectors) per chunk of at most `chunk` texts, each stored in the cache
        first; a rich progress bar with an ETA on stderr when `progress` and there is more
        than one chunk."""
        bar = None
        if progress and len(texts) > self.batch_size:
            from ..core.progress import progress_bar

            bar = progress_bar(f"embedding {len(texts)} texts on {self.device} ({self.backend})", len(texts))
        advance = bar.__enter__() if bar else (lambda n=1: None)
        try:
            for start in range(0, len(texts), self.chunk):
                part = texts[start:start + self.chunk]
                vectors = self._encode(part)
                part_hashes = hashes[start:start + self.chunk]
                if self.store:
                    self.store.put_vectors(self.cache_key, dict(zip(part_hashes, vectors)))
                advance(len(part))
                yield part_hashes, vectors
        finally:
            if bar:
                bar.__exit__(None, None, None)

    def encode_query(self, text: str) -> np.ndarray:
        """One query vector of shape (dim,); queries are not cached (they are cheap and many)."""
        return self._encode([text])[0]
