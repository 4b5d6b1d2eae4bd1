"""mpe_psn.utils.device: the one device resolution, name and autocast dtype."""

from __future__ import annotations

import pytest
import torch

from mpe_psn.utils.device import DeviceError, amp_dtype, device_name, resolve_device


def test_auto_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_a_missing_gpu_is_a_clear_error():
    with pytest.raises(DeviceError, match="'cuda:1' was requested but no CUDA GPU is available; use --device cpu"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("name", ["", "gpu", "cpu:x"])
def test_a_bad_device_name_is_a_clear_error(name):
    with pytest.raises(DeviceError, match="device must be"):
        resolve_device(name)


def test_amp_dtype():
    cpu = torch.device("cpu")
    assert [amp_dtype(m, cpu) for m in ("off", "auto", "bf16", "fp16")] == [None, torch.bfloat16, torch.bfloat16, torch.float16]
    with pytest.raises(ValueError, match=r"amp must be one of \['off', 'auto', 'bf16', 'fp16'\], got 'fp8'"):
        amp_dtype("fp8", cpu)


def test_cpu_name_says_cores_and_threads():
    name = device_name("cpu")
    assert name.endswith(f"cores, {torch.get_num_threads()} threads") and "CPU" in name
