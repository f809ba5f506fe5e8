"""Where a local model runs: its device, its precision and its batch.

``INGESTQ_DEVICE=auto`` (the default) takes CUDA when torch sees it, then Apple's
MPS, then the CPU. Asking torch costs its import (seconds), which the CPU path
(ONNX Runtime) never pays otherwise: so ``auto`` asks torch only when it is
loaded already or the host shows a GPU driver (:func:`gpu_driver`); any other
host is a CPU host at once, and ``doctor`` and ``search`` stay fast there.

``INGESTQ_PRECISION`` is fp16 on CUDA by default, fp32 elsewhere. fp16 on the
CPU is ignored, with the reason in the log and in ``doctor``: the CPU has no
fast half-precision kernels, so it would be slower for no gain (benchmarks/device.py).
A GPU takes :data:`GPU_BATCH` chunks a batch and the CPU :data:`CPU_BATCH`, unless
``INGESTQ_EMBED_BATCH`` says otherwise.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ingestq.config import Settings
from ingestq.errors import ConfigError

#: Chunks a batch on a GPU: 512 fills a GPU with MiniLM's 256-token chunks
#: (about 0.1 GB of activations in fp16, far below any card's memory) while a
#: batch stays a fraction of a second, so progress and heartbeats keep flowing.
#: A card with too little memory halves it (see local.py).
GPU_BATCH = 512
#: Chunks a batch on the CPU. Smaller is faster there, down to about 8: a batch's
#: attention scores (batch x 12 heads x 256 x 256 floats: 25 MB at 8, 200 MB at 64)
#: then stay in the CPU's cache instead of streaming through memory at every layer.
#: Measured on this project's 2-core EPYC (32 MB L3), ONNX Runtime, the corpus's
#: chunks sorted by length: 8 took 0.84x the time of 64, and 1 to 8 the same
#: (benchmarks/device.py sweeps it). The worker's memory falls with it too.
CPU_BATCH = 8
#: The least cosine between fp16 and fp32 vectors of the probe texts; below it, fp32.
FP16_AGREEMENT = 0.999
CPU_FP16 = (
    "fp16 ignored on the CPU: it has no fast half-precision kernels,"
    " so fp16 would be slower than fp32 there"
)


@dataclass(frozen=True)
class Plan:
    """How this process embeds: ``device`` is "cpu", "cuda:N" or "mps"."""

    device: str
    precision: str  # "fp32" or "fp16"
    batch_size: int
    note: str = ""  # a setting not followed, and why


def gpu_driver() -> bool:
    """Whether this host shows a GPU a torch build could use (no torch imported)."""
    if sys.platform == "darwin":
        return platform.machine() == "arm64"
    return any(
        Path(p).exists() for p in ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/kfd")
    )


def _mps(torch: Any) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(setting: str) -> str:
    """The device ``setting`` (checked by config.device_setting) stands for on this host.

    :class:`ConfigError` if it names a device torch does not see.
    """
    if setting == "cpu" or (setting == "auto" and "torch" not in sys.modules and not gpu_driver()):
        return "cpu"
    import torch

    if setting == "auto":
        if torch.cuda.is_available():
            return "cuda:0"
        return "mps" if _mps(torch) else "cpu"
    if setting == "mps":
        if not _mps(torch):
            raise ConfigError(f"device {setting!r}: this torch ({torch.__version__}) sees no MPS")
        return "mps"
    index = int(setting.partition(":")[2] or 0)
    if not torch.cuda.is_available():
        build = "" if torch.version.cuda else ", built without CUDA"
        raise ConfigError(
            f"device {setting!r}: this torch ({torch.__version__}{build}) sees no CUDA device"
        )
    if index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(f"device {setting!r}: torch sees {count} CUDA device(s) here")
    return f"cuda:{index}"


def precision_for(device: str, setting: str) -> tuple[str, str]:
    """The precision for ``device`` under ``setting``, and why a setting was not followed."""
    if device.startswith("cuda"):
        return ("fp32" if setting == "fp32" else "fp16"), ""
    if setting == "fp16" and device == "cpu":
        return "fp32", CPU_FP16
    return ("fp16" if setting == "fp16" else "fp32"), ""


def plan(settings: Settings) -> Plan:
    """The device, precision and batch ``settings`` give a local model on this host."""
    setting = settings.device
    if settings.embed_backend == "onnx" and setting != "cpu":
        # ONNX Runtime runs on the CPU here: an explicit GPU cannot have it.
        if setting != "auto":
            raise ConfigError(
                f"INGESTQ_EMBED_BACKEND=onnx runs on the CPU, not on {setting!r}:"
                " set INGESTQ_EMBED_BACKEND=auto or torch to embed on a GPU"
            )
        setting = "cpu"
    device = resolve_device(setting)
    precision, note = precision_for(device, settings.precision)
    if settings.embed_batch_set:
        batch = settings.embed_batch_size
    else:
        batch = CPU_BATCH if device == "cpu" else GPU_BATCH
    return Plan(device, precision, batch, note)


def settle(settings: Settings) -> tuple[Settings, str]:
    """``settings`` with the device, precision and batch resolved, and a line saying them.

    A worker settles once at its start, so every batch it embeds has the
    device's size and the start line names what it runs on.
    """
    if settings.model.startswith("openai:"):
        return settings, "an endpoint (no local device)"
    p = plan(settings)
    settled = replace(
        settings,
        device=p.device,
        precision=p.precision,
        embed_batch_size=p.batch_size,
        embed_batch_set=True,
    )
    return settled, describe(p)


def describe(p: Plan) -> str:
    """The plan in a few words: device, its memory, precision, batch (and a note)."""
    name, memory = device_memory(p.device)
    kind = {"cpu": " RAM", "mps": " shared with the system"}.get(p.device, "")
    size = f"{memory / 2**30:.1f} GiB{kind}"
    line = f"{p.device} ({name}, {size}), {p.precision}, batch {p.batch_size}"
    return f"{line}; {p.note}" if p.note else line


def device_memory(device: str) -> tuple[str, int]:
    """What ``device`` is and its memory in bytes: a GPU's own, or the system's RAM."""
    if device.startswith("cuda"):
        import torch

        props = torch.cuda.get_device_properties(int(device.partition(":")[2] or 0))
        return str(props.name), int(props.total_memory)
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if device == "mps":
        return "Apple GPU", int(ram)
    return f"{os.cpu_count()} cores", int(ram)


def out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is a device running out of memory (CUDA's, MPS's, or a kernel's)."""
    torch = sys.modules.get("torch")
    oom = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None)
    if oom is not None and isinstance(exc, oom):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
