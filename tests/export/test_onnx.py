"""ONNX export: one loop-free graph over all T steps that onnxruntime runs like PyTorch."""

from __future__ import annotations

import pytest
import torch

import mpe_psn
from mpe_psn import MPEPSN

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from mpe_psn.commands.cli import main  # noqa: E402
from mpe_psn.export.onnx_export import LOOP_OPS, prepare_for_export, to_onnx  # noqa: E402

#: onnxruntime and PyTorch order float sums differently; logits agree to this absolute tolerance
LOGIT_ATOL = 1e-4


def _ort(path, frames: torch.Tensor) -> torch.Tensor:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"frames": frames.numpy()})[0])


def _ops(path) -> set[str]:
    return {node.op_type for node in onnx.load(str(path)).graph.node}


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """The expected-estimator ONNX file written by ``mpe-psn export`` (batch 1 example input)."""
    path = tmp_path_factory.mktemp("onnx") / "net.onnx"
    assert main(["export", str(tiny_run[0]), "--format", "onnx", "--out", str(path)]) == 0
    return path


def test_export_command_writes_a_loop_free_graph_that_predicts_like_pytorch(exported, tiny_run, tiny_test_set):
    from mpe_psn.models.checkpoint import load_model

    ops = _ops(exported)
    assert not ops & LOOP_OPS and "Sigmoid" in ops  # the estimate, computed for all steps at once
    model, _ = load_model(tiny_run[0])
    frames, labels = tiny_test_set
    with torch.no_grad():
        expected = prepare_for_export(model, frames.shape[0])(frames)
    got = _ort(exported, frames)  # every test sample in one batch: the graph's batch is dynamic
    assert got.shape == expected.shape == (frames.shape[0], len(labels), 10)
    assert torch.equal(got.mean(0).argmax(-1), expected.mean(0).argmax(-1))
    assert torch.allclose(got, expected, atol=LOGIT_ATOL, rtol=0)


def test_exact_lif_variant_is_loop_free_and_equals_the_lif(tiny_run, tiny_test_set, tmp_path):
    from mpe_psn.models import build_model
    from mpe_psn.models.checkpoint import load_model

    model, config = load_model(tiny_run[0])
    frames, _ = tiny_test_set
    # the TorchScript tracer (fast to export) with the whole test set's batch fixed in the graph
    info = to_onnx(model, tmp_path / "lif.onnx", frames, exact_lif=True, dynamo=False, dynamic_batch=False)
    assert info["exact_lif"] and not set(info["ops"]) & LOOP_OPS and info["T"] == frames.shape[0]
    # the same weights with the sequential LIF neuron compute the same network
    args = dict(config["model_args"], neuron="lif", neuron_options={})
    lif = build_model(args.pop("name"), **args)
    lif.load_state_dict({k: v for k, v in model.state_dict().items() if "kappa" not in k})
    lif.eval()
    with torch.no_grad():
        reference = lif(frames)
    got = _ort(tmp_path / "lif.onnx", frames)
    assert torch.equal(got.mean(0).argmax(-1), reference.mean(0).argmax(-1))
    assert torch.allclose(got, reference, atol=LOGIT_ATOL, rtol=0)
    assert all(m.refine_steps == 0 for m in model.modules() if isinstance(m, MPEPSN))  # model untouched


def test_export_failure_leaves_no_file(tmp_path, monkeypatch):
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), mpe_psn.LIF())
    with pytest.raises(ValueError, match=r"example_input must be a tensor \[T, B, ...\]"):
        to_onnx(net, tmp_path / "a.onnx", torch.zeros(3))
    with pytest.raises(ValueError, match="pass dynamic_batch=False with it"):
        to_onnx(net, tmp_path / "a.onnx", torch.zeros(4, 1, 3), dynamo=False)

    def broken(*args, **kwargs):
        raise RuntimeError("exporter crashed")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(RuntimeError, match="exporter crashed"):
        to_onnx(net, tmp_path / "a.onnx", torch.zeros(4, 1, 3))
    assert list(tmp_path.iterdir()) == []
