"""float32 is full float32 on CUDA, whatever the environment says: the settings CuPy's and
PyTorch's backends (and the benchmark's PyTorch twin) apply, checked without a GPU: CuPy's
compute type under CUPY_TF32=1 (on the real CuPy where installed, and on a stand-in), and
PyTorch's TF32 switches under TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from lenet_xp.backend import Backend, DeviceError, get_backend
from fake_gpus import fake_cupy, fake_torch_cuda


def _python(code: str, **variables) -> str:
    """What ``code`` prints in a fresh Python with the environment ``variables`` added (the
    libraries read them when they load)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **variables})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_cupy_backend_pins_the_default_compute_type(monkeypatch, fresh_backends):
    used = fake_cupy(monkeypatch, gpus=1)
    backend = get_backend("cuda")
    assert ("compute type", np.float32, 1) in used  # COMPUTE_TYPE_DEFAULT, never TF32 (7)
    assert backend.compute_type == "COMPUTE_TYPE_DEFAULT"


def test_the_real_cupy_takes_the_pin_over_cupy_tf32():
    """CuPy reads CUPY_TF32 at the first float32 product; the pin comes first (no GPU needed:
    CuPy imports without one)."""
    pytest.importorskip("cupy", reason="CuPy is not installed (CI installs cupy-cuda12x)")
    printed = _python("import cupy\nfrom lenet_xp.backends.cupy_backend import pin_full_float32\n"
                      "print(pin_full_float32(cupy))", CUPY_TF32="1")
    assert printed == "COMPUTE_TYPE_DEFAULT"


PIN_TORCH = """
import json, torch
from lenet_xp.backends.torch_backend import TorchBackend, tf32_settings
before = tf32_settings(torch)
TorchBackend(torch, "cuda", 0)  # what --device torch:cuda makes (no GPU needed to make it)
print(json.dumps([before, tf32_settings(torch)]))
"""


@pytest.mark.torch
def test_torch_cuda_backend_turns_tf32_off_whatever_the_environment_says():
    pytest.importorskip("torch")
    before, after = json.loads(_python(PIN_TORCH, TORCH_ALLOW_TF32_CUBLAS_OVERRIDE="1"))
    assert before == {"torch.backends.cuda.matmul.allow_tf32": True,  # what the image would do
                      "torch.backends.cudnn.allow_tf32": True}
    assert not any(after.values())


@pytest.fixture
def tf32_switches():
    """PyTorch's TF32 switches turned on (as PyTorch's cuDNN default and the override would),
    and put back as they were after the test (they are the process's)."""
    torch = pytest.importorskip("torch")
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.torch
def test_the_benchmark_s_twin_computes_in_full_float32_on_cuda(monkeypatch, tf32_switches):
    """lenet_xp on CuPy makes no torch backend: the twin pins PyTorch itself."""
    from lenet_xp.backends.torch_backend import tf32_settings
    from lenet_xp.tools.bench.autograd_twin import torch_device

    torch = fake_torch_cuda(monkeypatch, gpus=1)
    lenet_on_cupy = Backend("cuda:0", np, None, hardware="cuda", index=0)
    device, why_not = torch_device(torch, lenet_on_cupy)
    assert why_not is None and device == torch.device("cuda", 0)
    assert not any(tf32_settings(torch).values())


def test_a_pytorch_that_keeps_tf32_on_is_refused():
    """Older PyTorch read TORCH_ALLOW_TF32_CUBLAS_OVERRIDE on every product, whatever it was
    told: the switch reads back True, and the backend refuses to compute."""
    from lenet_xp.backends.torch_backend import pin_full_float32

    class Stuck:
        allow_tf32 = property(lambda self: True, lambda self, value: None)

    torch = types.SimpleNamespace(__version__="2.0.1", backends=types.SimpleNamespace(
        cuda=types.SimpleNamespace(matmul=Stuck()), cudnn=Stuck()))
    with pytest.raises(DeviceError, match="keeps TF32 on.*unset TORCH_ALLOW_TF32_CUBLAS_OVERRIDE"):
        pin_full_float32(torch)
