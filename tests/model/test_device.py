"""``spectm.model.device``: device choice, its errors, autocast and the torch thread count.

CUDA and MPS availability are monkeypatched, so every branch runs on a CPU-only machine and
gives the same answers on a GPU one.
"""

import warnings

import pytest
import torch

from spectm.model.device import autocast, resolve_device, torch_threads


@pytest.fixture
def machine(monkeypatch):
    """Set what this 'machine' has: ``machine(cuda=2, mps=False)``."""

    def set_(*, cuda: int = 0, mps: bool = False):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return set_


@pytest.mark.parametrize(
    ("cuda", "mps", "want"),
    [(0, False, "cpu"), (0, True, "mps"), (1, True, "cuda"), (2, False, "cuda")],
)
def test_auto_prefers_cuda_then_mps_then_cpu(machine, cuda, mps, want):
    machine(cuda=cuda, mps=mps)
    assert resolve_device("auto") == torch.device(want)
    assert resolve_device() == torch.device(want)  # auto is the default


def test_explicit_devices_that_exist(machine):
    machine(cuda=2, mps=True)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("mps") == torch.device("mps")


def test_cpu_is_always_there(machine):
    machine(cuda=0, mps=False)
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize(
    ("name", "cuda", "mps", "message"),
    [
        ("cuda", 0, True, "'cuda' requested but CUDA is not available on this machine"),
        ("cuda:0", 0, False, "'cuda:0' requested but CUDA is not available on this machine"),
        ("cuda:2", 2, False, "'cuda:2' requested but only 2 CUDA device(s)"),
        ("mps", 1, False, "'mps' requested but Apple MPS is not available on this machine"),
        ("tpu9", 1, True, "'tpu9' is not a torch device (use auto, cpu, cuda, mps)"),
        ("meta", 1, True, "'meta' is not supported (use auto, cpu, cuda, mps)"),
    ],
)
def test_unavailable_or_unknown_device_is_a_clear_value_error(machine, name, cuda, mps, message):
    machine(cuda=cuda, mps=mps)
    with pytest.raises(ValueError) as err:
        resolve_device(name)
    assert str(err.value) == f"device {message}"


def test_autocast_bf16_on_cuda_only():
    with warnings.catch_warnings():  # a CPU-only torch warns that CUDA autocast is disabled
        warnings.simplefilter("ignore", UserWarning)
        ctx = autocast(torch.device("cuda"))
    assert isinstance(ctx, torch.autocast)
    assert ctx.device == "cuda" and ctx.fast_dtype == torch.bfloat16
    for dev in ("cpu", "mps"):
        ctx = autocast(torch.device(dev))
        assert not isinstance(ctx, torch.autocast)
    # on the CPU the block trains in float32: a matmul inside it stays float32
    a = torch.ones(4, 4)
    with autocast(torch.device("cpu")):
        assert (a @ a).dtype == torch.float32


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before


def test_torch_threads_restores_after_an_error():
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with pytest.raises(RuntimeError, match="boom"), torch_threads(other):
        assert torch.get_num_threads() == other
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
