"""ONNX Runtime encoding on the CPU (config `backend = "onnx"`).

The transformer of a local sentence-transformers model is exported to ONNX on first use (torch's
exporter, from the folder on disk: no hub) and kept in the home (`onnx/<key>/model.onnx`, plus
`model-int8.onnx` when `onnx_quantize` is on); pooling and normalization are done here in numpy,
as the model's own Pooling module says. sentence-transformers' own `backend="onnx"` needs
optimum-onnx, which pins transformers below the version this project runs on; the export and
the pooling are a few lines, so they live here instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

_EXPORT_LOCK = threading.Lock()


class OnnxEncoder:
    """An encoders.Encoder: `encode` like SentenceTransformer.encode, (n, dim) float32 vectors."""

    def __init__(self, model_path: str, onnx_file: Path):
        import onnxruntime
        from transformers import AutoTokenizer

        folder = Path(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        settings = _read_json(folder / "sentence_bert_config.json")
        self.max_length = int(settings.get("max_seq_length") or self.tokenizer.model_max_length)
        self.pooling = _pooling_mode(folder)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # keep stderr to our progress and errors
        self.session = onnxruntime.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self._dim = int(self.session.get_outputs()[0].shape[-1])

    def get_embedding_dimension(self) -> int:
        return self._dim

    def encode(self, texts: list[str], batch_size: int = 32, normalize_embeddings: bool = True,
               convert_to_numpy: bool = True, show_progress_bar: bool = False) -> np.ndarray:
        # Batches of similar length pad less (what sentence-transformers does too).
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            tokens = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="np")
            feed = {name: tokens[name].astype(np.int64) for name in self.inputs}
            hidden = self.session.run(None, feed)[0]  # (batch, tokens, dim)
            mask = tokens["attention_mask"][..., None].astype(np.float32)
            if self.pooling == "cls":
                pooled = hidden[:, 0]
            else:
                pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            out[rows] = pooled
        if normalize_embeddings:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


@lru_cache(maxsize=4)
def _cached_encoder(model_path: str, onnx_file: str) -> OnnxEncoder:
    return OnnxEncoder(model_path, Path(onnx_file))


def onnx_encoder(model_path: str, folder: Path, quantize: bool = False) -> OnnxEncoder:
    """The encoder for the model at `model_path`, exporting (and quantizing) it into `folder`
    the first time; later calls and processes reuse the files."""
    target = export_path(model_path, folder, quantize)
    if not target.exists():
        with _EXPORT_LOCK:
            if not target.exists():
                fp32 = export_path(model_path, folder, False)
                if not fp32.exists():
                    export(model_path, fp32)
                if quantize:
                    _quantize(fp32, target)
    return _cached_encoder(model_path, str(target))


def export_path(model_path: str, folder: Path, quantize: bool) -> Path:
    """Where the export of a model folder lives: keyed by its path and its weights' size and
    time, so a model retrained in place gets a new export."""
    weights = sorted(Path(model_path).glob("*.safetensors")) + sorted(Path(model_path).glob("*.bin"))
    stamp = ";".join(f"{w.name}:{w.stat().st_size}:{int(w.stat().st_mtime)}" for w in weights)
    key = hashlib.sha256(f"{Path(model_path).resolve()}|{stamp}".encode()).hexdigest()[:16]
    return Path(folder) / key / ("model-int8.onnx" if quantize else "model.onnx")


def export(model_path: str, target: Path) -> None:
    """Export the model's transformer (inputs: the tokenizer's; output: last hidden state)."""
    import torch

    from .encoders import open_model

    if _pooling_mode(Path(model_path)) not in ("mean", "cls"):
        from ..core.errors import ValidationFailed

        raise ValidationFailed("config", [f"backend: 'onnx' supports mean or CLS pooling; {model_path} "
                                          "uses another pooling, use backend 'torch'"])
    model = open_model(model_path, "cpu")
    transformer = model[0].auto_model.eval()
    names = list(model.tokenizer.model_input_names)

    class Hidden(torch.nn.Module):  # keyword arguments: positional order differs between versions
        def __init__(self):
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs):
            return self.transformer(**dict(zip(names, inputs))).last_hidden_state

    # Example batch with padding, so the traced graph keeps the attention mask's effect.
    sample = model.tokenizer(["an example sentence for the export", "short"], padding=True, return_tensors="pt")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.partial")
    axes = {name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on Python conditions it fixed for the sample
        torch.onnx.export(Hidden(), tuple(sample[n] for n in names), str(partial), input_names=names,
                          output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                          dynamo=False)
    os.replace(partial, target)
    (target.parent / "source.json").write_text(json.dumps({"model": str(model_path)}))


def _quantize(fp32: Path, target: Path) -> None:
    """Dynamic int8 quantization of the weights (activations stay float)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = target.with_suffix(f".{os.getpid()}.partial")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process goes to the root logger: not for users
    try:
        quantize_dynamic(str(fp32), str(partial), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    os.replace(partial, target)


def _pooling_mode(folder: Path) -> str:
    """"mean", "cls", or another mode's name, from the model's modules.json and Pooling config."""
    for module in _read_json(folder / "modules.json", []):
        if module.get("type", "").endswith("Pooling"):
            config = _read_json(folder / module.get("path", "") / "config.json")
            if config.get("pooling_mode_mean_tokens"):
                return "mean"
            if config.get("pooling_mode_cls_token"):
                return "cls"
            return next((k for k, v in config.items() if k.startswith("pooling_mode") and v), "unknown")
    return "mean"


def _read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {} if default is None else default
