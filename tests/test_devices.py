"""Devices: which one a local model runs on, its precision and batch, and running out of memory.

There is no GPU here: the unit tests make torch.cuda (and torch.backends.mps)
say one is there, and nothing else. Everything else runs for real: the CLI, the
worker, the packaged model, the store.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import FOUR_PAGES, corpus, iq, run_burst, run_cli, store_records
from ingestq.config import load_settings
from ingestq.embed import devices
from ingestq.errors import ConfigError


class FakeProps:
    name = "Fake GPU"
    total_memory = 8 * 2**30


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> Any:
    """torch says a CUDA device is there (the one thing faked: a GPU)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: FakeProps())
    return torch


def test_auto_takes_cuda_then_mps_then_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert devices.resolve_device("auto") == "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert devices.resolve_device("auto") == "cpu"
    assert devices.resolve_device("cpu") == "cpu"


def test_a_device_torch_does_not_see_is_a_config_error(gpu: Any) -> None:
    assert devices.resolve_device("cuda") == "cuda:0"
    assert devices.resolve_device("cuda:0") == "cuda:0"
    with pytest.raises(ConfigError, match="sees 1 CUDA device"):
        devices.resolve_device("cuda:3")
    gpu.cuda.is_available = lambda: False  # monkeypatch restores the real one
    with pytest.raises(ConfigError, match="sees no CUDA device"):
        devices.resolve_device("cuda")


def test_a_gpu_gets_fp16_and_a_large_batch_unless_told_otherwise(
    gpu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settled, line = devices.settle(load_settings())
    assert (settled.device, settled.precision, settled.embed_batch_size) == ("cuda:0", "fp16", 512)
    assert line == "cuda:0 (Fake GPU, 8.0 GiB), fp16, batch 512"
    monkeypatch.setenv("INGESTQ_EMBED_BATCH", "100")
    monkeypatch.setenv("INGESTQ_PRECISION", "fp32")
    settled, line = devices.settle(load_settings())
    assert (settled.precision, settled.embed_batch_size) == ("fp32", 100)
    monkeypatch.setenv("INGESTQ_DEVICE", "cpu")
    monkeypatch.delenv("INGESTQ_EMBED_BATCH")
    settled, line = devices.settle(load_settings())
    assert (settled.device, settled.precision, settled.embed_batch_size) == ("cpu", "fp32", 8)
    monkeypatch.setenv("INGESTQ_EMBED_BATCH", "64")  # a set batch holds on the CPU too
    assert devices.settle(load_settings())[0].embed_batch_size == 64
    monkeypatch.delenv("INGESTQ_EMBED_BATCH")
    # ONNX Runtime runs on the CPU: auto yields to it, an explicit GPU is refused.
    monkeypatch.setenv("INGESTQ_EMBED_BACKEND", "onnx")
    monkeypatch.setenv("INGESTQ_DEVICE", "auto")
    assert devices.plan(load_settings()).device == "cpu"
    monkeypatch.setenv("INGESTQ_DEVICE", "cuda")
    with pytest.raises(ConfigError, match="onnx runs on the CPU"):
        devices.plan(load_settings())


def test_fp16_on_the_cpu_is_ignored_saying_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGESTQ_DEVICE", "cpu")
    monkeypatch.setenv("INGESTQ_PRECISION", "fp16")
    p = devices.plan(load_settings())
    assert (p.device, p.precision) == ("cpu", "fp32")
    assert "fp16 ignored on the CPU" in p.note
    settled, line = devices.settle(load_settings())
    assert settled.precision == "fp32" and line.endswith(devices.CPU_FP16)


@pytest.mark.parametrize(
    ("name", "value"),
    [("INGESTQ_DEVICE", "gpu"), ("INGESTQ_DEVICE", "cuda:x"), ("INGESTQ_PRECISION", "fp8")],
)
def test_a_bad_setting_is_one_line_and_exit_2(name: str, value: str) -> None:
    ran = iq("worker", "--burst", env={name: value})
    assert ran.returncode == 2
    assert ran.stderr.strip().count("\n") == 0 and name in ran.stderr and value in ran.stderr


def test_a_bad_device_option_is_a_usage_error() -> None:
    ran = iq("worker", "--burst", "--device", "tpu")
    assert ran.returncode == 2 and "--device" in ran.stderr and "'tpu'" in ran.stderr


def test_worker_device_overrides_the_setting(embedder: Any) -> None:
    iq("add", str(corpus(FOUR_PAGES)), check=True)
    # There is no CUDA here: the setting alone stops the worker, saying why.
    refused = iq("worker", "--burst", env={"INGESTQ_DEVICE": "cuda"})
    assert refused.returncode == 2 and "sees no CUDA device" in refused.stderr
    ran = iq("worker", "--burst", "--json", "--device", "cpu", env={"INGESTQ_DEVICE": "cuda"})
    assert ran.returncode == 0, ran.stderr
    assert [j["state"] for j in json.loads(ran.stdout)["jobs"]] == ["completed"]


def test_a_real_worker_process_names_its_device(home: Path) -> None:
    run_cli("add", str(corpus(FOUR_PAGES)), check=True)
    ran = run_cli(
        "worker", "--burst", "--device", "cpu", env={"INGESTQ_DEVICE": "mps"}, timeout=300
    )
    assert ran.returncode == 0, ran.stderr
    [line] = [x for x in ran.stderr.splitlines() if " embeds on " in x]
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    assert line.endswith(
        f"embeds on cpu ({os.cpu_count()} cores, {ram:.1f} GiB RAM), fp32, batch 8"
    )
    assert "burst done: 1 jobs ran (1 completed)" in ran.stderr


def test_doctor_names_the_device_its_memory_and_precision() -> None:
    ran = iq("doctor", "--json", env={"INGESTQ_DEVICE": "cpu"})
    assert ran.returncode == 0, ran.stdout
    [row] = [c for c in json.loads(ran.stdout)["checks"] if c["name"] == "device"]
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert row["status"] == "ok" and row["where"] == "INGESTQ_DEVICE=cpu"
    assert row["details"] | {"name": None} == {
        "device": "cpu",
        "name": None,
        "memory_bytes": ram,
        "precision": "fp32",
        "batch_size": 8,
        "note": "",
    }
    human = iq("doctor", env={"INGESTQ_PRECISION": "fp16"})
    [line] = [x for x in human.stdout.splitlines() if x.split()[1] == "device"]
    assert line.startswith("warn") and "fp32" in line and "fp16 ignored on the CPU" in line
    failed = iq("doctor", env={"INGESTQ_DEVICE": "cuda:1"})
    assert failed.returncode == 1
    [line] = [x for x in failed.stdout.splitlines() if x.split()[1] == "device"]
    assert line.startswith("fail") and "sees no CUDA device" in line


def test_doctor_on_a_cpu_host_imports_no_torch() -> None:
    if devices.gpu_driver():
        pytest.skip("this host shows a GPU driver: auto asks torch here")
    code = (
        "import sys\nfrom ingestq.config import load_settings\n"
        "from ingestq.ops.doctor import doctor\n"
        "report = doctor(load_settings())\n"
        "print(report.ok, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"], out.stderr


class OutOfMemory:
    """The model's encode, failing as CUDA does for batches larger than ``limit``."""

    def __init__(self, encode: Any, limit: int) -> None:
        self.encode, self.limit, self.refused = encode, limit, 0

    def __call__(self, texts: list[str], batch_size: int = 32, **kw: Any) -> Any:
        import torch

        if min(len(texts), batch_size) > self.limit:
            self.refused += 1
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.encode(texts, batch_size=batch_size, **kw)


@pytest.fixture
def faulty(embedder: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    def fault(limit: int) -> OutOfMemory:
        oom = OutOfMemory(embedder.model.encode, limit)
        monkeypatch.setattr(embedder.model, "encode", oom)
        return oom

    # The batch the model learns to hold is the session's embedder's: restored after.
    monkeypatch.setattr(embedder, "_ceiling", None)
    return fault


def test_out_of_memory_halves_the_batch_and_says_so_once(
    embedder: Any, faulty: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from ingestq.readers.pdf import open_pdf

    texts = [c.text for c in embedder.chunker().chunks(open_pdf(corpus(FOUR_PAGES)).pages())]
    assert len(texts) > 8
    clean = embedder.encode(texts, 64)
    oom = faulty(4)
    with caplog.at_level(logging.WARNING, logger="ingestq.embed.local"):
        first = embedder.encode(texts, 64)
        second = embedder.encode(texts, 64)
    assert oom.refused == 2  # 15 texts at once, then 7; 3 fit, and the next call starts at 3
    assert embedder._ceiling == 3
    assert np.array_equal(first, clean) and np.array_equal(second, clean)
    [said] = [r.getMessage() for r in caplog.records if "out of memory" in r.getMessage()]
    assert said.startswith("cpu ran out of memory embedding 15 texts at once: halving")


def test_a_single_text_the_device_cannot_hold_fails(embedder: Any, faulty: Any) -> None:
    import torch

    faulty(0)
    with pytest.raises(torch.cuda.OutOfMemoryError):
        embedder.encode(["one text", "two texts"], 64)
    assert embedder._ceiling == 1


def test_a_job_whose_device_runs_out_of_memory_completes(embedder: Any, faulty: Any) -> None:
    from ingestq.store import open_vector_store

    iq("add", str(corpus(FOUR_PAGES)), "--collection", "clean", check=True)
    run_burst(embedder)
    oom = faulty(4)
    iq("add", str(corpus(FOUR_PAGES)), "--collection", "faulted", check=True)
    worker = run_burst(embedder)
    assert oom.refused > 0
    store = open_vector_store(load_settings())
    by = {}
    for collection in ("clean", "faulted"):
        job_ids = {r["metadata"]["job_id"] for r in store_records(collection=collection)}
        by[collection] = store.vectors_by_text(collection, sorted(job_ids))
    assert by["faulted"].keys() == by["clean"].keys() and len(by["clean"]) > 2
    # Equal up to float rounding: the worker's embedding loop sorts each window by
    # length, so a halved batch pads its texts differently (differences near 1e-8;
    # a wrong or shifted vector differs by more than 1e-2).
    for key, vector in by["clean"].items():
        assert np.allclose(np.asarray(by["faulted"][key]), np.asarray(vector), rtol=0, atol=1e-6)
    from conftest import get_job

    assert [get_job(j).state for j in worker.ran] == ["completed"]


def test_fp16_is_kept_only_when_its_vectors_agree_with_fp32(
    embedder: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from ingestq.embed.local import PROBES, SentenceTransformerEmbedder

    # torch has fp16 kernels on the CPU (slow ones): the check itself runs for real here.
    half = SentenceTransformerEmbedder(precision="fp16")
    assert half.precision == "fp16" and next(half.model.parameters()).dtype.itemsize == 2
    vectors = half.encode(PROBES)
    assert vectors.dtype == np.float32
    assert float((vectors * embedder.encode(PROBES)).sum(axis=1).min()) >= devices.FP16_AGREEMENT
    monkeypatch.setattr(devices, "FP16_AGREEMENT", 1.5)  # no fp16 vector can agree so well
    with caplog.at_level(logging.WARNING, logger="ingestq.embed.local"):
        kept = SentenceTransformerEmbedder(precision="fp16")
    assert kept.precision == "fp32" and next(kept.model.parameters()).dtype.itemsize == 4
    assert np.array_equal(kept.encode(PROBES), embedder.encode(PROBES))
    assert any("kept fp32" in r.getMessage() for r in caplog.records)
