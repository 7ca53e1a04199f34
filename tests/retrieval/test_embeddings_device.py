"""Where encoding runs (config `device`, batch size per device), the ONNX Runtime backend on the
CPU, and index encoding that resumes from the cache after an interruption."""

import types

import numpy as np
import pytest
import torch
from conftest import CATALOG

from matchgraph import Engine
from matchgraph.core.config import load_config
from matchgraph.core.errors import ValidationFailed
from matchgraph.retrieval.embeddings import Embedder, pick_device
from matchgraph.retrieval.encoders import resolve_model
from matchgraph.retrieval.onnx import export_path
from matchgraph.store import create_store

TEXTS = ["read handwritten letters", "x",
         "make a picture from a sentence " * 60,  # past the model's 256 tokens: truncated
         "transcribe a podcast in Spanish and translate it to English"]


def _torch_like(cuda: bool, mps: bool):
    """A stand-in for the torch module's availability flags: this machine has no GPU, and the
    choice `auto` makes on one is what is tested here (torch itself is not replaced anywhere)."""
    return types.SimpleNamespace(__version__="test", cuda=types.SimpleNamespace(is_available=lambda: cuda),
                                 backends=types.SimpleNamespace(mps=types.SimpleNamespace(is_available=lambda: mps)))


def test_auto_takes_cuda_then_mps_then_the_cpu():
    assert pick_device("auto", _torch_like(cuda=True, mps=True)) == "cuda"
    assert pick_device("auto", _torch_like(cuda=False, mps=True)) == "mps"
    assert pick_device("auto", _torch_like(cuda=False, mps=False)) == "cpu"
    assert pick_device("cuda", _torch_like(cuda=True, mps=False)) == "cuda"
    assert pick_device("cpu", _torch_like(cuda=True, mps=True)) == "cpu"


def test_auto_on_this_machine_follows_what_torch_sees():
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert pick_device("auto") == expected


def test_a_gpu_torch_does_not_see_is_an_error_naming_the_key():
    with pytest.raises(ValidationFailed) as err:
        pick_device("cuda", _torch_like(cuda=False, mps=False))
    assert "device: 'cuda' was asked for" in str(err.value)
    with pytest.raises(ValidationFailed, match="device: must be one of auto, cpu, cuda, mps"):
        pick_device("gpu")


def test_config_rejects_unknown_devices_and_backends(tmp_path):
    (tmp_path / "matchgraph.toml").write_text('device = "gpu"\nbackend = "tensorrt"\n')
    with pytest.raises(ValidationFailed) as err:
        load_config(tmp_path, env={})
    assert "device: must be one of auto, cpu, cuda, mps, got 'gpu'" in str(err.value)
    assert "backend: must be one of torch, onnx, got 'tensorrt'" in str(err.value)
    config = load_config(tmp_path / "other", env={"MATCHGRAPH_DEVICE": "cpu", "MATCHGRAPH_BATCH_SIZE_CUDA": "256"})
    assert config["device"] == "cpu" and config["batch_size_cuda"] == 256


def test_the_batch_size_follows_the_device():
    sizes = {"cuda": 1024, "mps": 128}
    assert Embedder("default", batch_size=16, device="cpu", batch_sizes=sizes).batch_size == 16
    auto = Embedder("default", batch_size=16, device="auto", batch_sizes=sizes)
    assert auto.batch_size == sizes.get(auto.device, 16)


def test_onnx_backend_exports_once_into_the_home_and_matches_torch(tmp_path, model):
    onnx = Embedder("default", None, device="cpu", backend="onnx", onnx_home=tmp_path / "onnx")
    assert onnx.backend == "onnx" and onnx.cache_key == "default"
    vectors = onnx.encode(TEXTS)
    reference = model.encode(TEXTS, normalize_embeddings=True)
    assert vectors.shape == (len(TEXTS), 384)
    assert np.allclose((vectors * reference).sum(axis=1), 1.0, atol=1e-4)
    assert np.allclose(onnx.encode_query(TEXTS[1]), reference[1], atol=1e-4)  # a batch without padding
    exported = export_path(resolve_model("default"), tmp_path / "onnx", False)
    assert exported.exists()
    stamp = exported.stat().st_mtime_ns
    again = Embedder("default", None, device="cpu", backend="onnx", onnx_home=tmp_path / "onnx")
    assert np.allclose(again.encode(TEXTS[:2]), vectors[:2], atol=1e-6)
    assert exported.stat().st_mtime_ns == stamp  # reused, not exported again


def test_int8_onnx_vectors_are_close_and_cached_apart(tmp_path, model):
    int8 = Embedder("default", create_store(f"sqlite:///{tmp_path / 'm.db'}"), device="cpu", backend="onnx",
                    onnx_home=tmp_path / "onnx", quantize=True)
    vectors = int8.encode(TEXTS)
    assert next((tmp_path / "onnx").rglob("model-int8.onnx")).exists()
    cosines = (vectors * model.encode(TEXTS, normalize_embeddings=True)).sum(axis=1)
    assert cosines.min() > 0.8 and int8.cache_key == "default#onnx-int8"
    plain = Embedder("default", int8.store, device="cpu")
    plain.encode(TEXTS[:1])
    assert plain.last_embedded == 1  # torch's vectors are not read from the int8 entries


class _Interrupted(Embedder):
    """The real embedder, stopped (as by Ctrl-C or a kill) when its second chunk starts."""

    calls = 0

    def _encode(self, texts, progress=False):
        _Interrupted.calls += 1
        if _Interrupted.calls == 2:
            raise KeyboardInterrupt
        return super()._encode(texts, progress)


def test_an_interrupted_build_resumes_from_the_cache(tmp_path, model):
    store = create_store(f"sqlite:///{tmp_path / 'm.db'}")
    texts = [f"capability number {i} reads documents" for i in range(7)]
    with pytest.raises(KeyboardInterrupt):
        _Interrupted("default", store, device="cpu", chunk=3).encode(texts, progress=True)
    resumed = Embedder("default", store, device="cpu", chunk=3)
    vectors = resumed.encode(texts, progress=True)
    assert resumed.last_embedded == 4  # the first chunk of 3 was kept
    assert np.allclose(vectors, model.encode(texts, normalize_embeddings=True), atol=1e-5)


def test_engine_index_with_the_onnx_backend(tmp_path, model):
    engine = Engine(tmp_path / "home", overrides={"backend": "onnx", "device": "cpu"})
    result = engine.index([CATALOG])
    assert result["embedded"] == result["capabilities"] > 0
    assert list((tmp_path / "home" / "onnx").rglob("model.onnx"))
    top = engine.search("read handwritten letters", record=False).results[0]
    assert top.artifact_id == "microsoft/trocr-base-handwritten"
