"""The one kappa weighting of the membrane loss, and the functional API's one-way layering."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

import mpe_psn.functional as F


def test_kappa_weighted_mean_values_and_errors():
    per_step = torch.tensor([1.0, 2.0, 6.0])
    assert F.kappa_weighted_mean(per_step).item() == pytest.approx(3.0 / 3)  # uniform 1/T: mean / T
    assert F.kappa_weighted_mean(per_step, torch.tensor([0.0, 3.0, 0.5])).item() == pytest.approx((6.0 + 3.0) / 3)
    with pytest.raises(ValueError, match=r"kappa must have one weight per time step, shape \(3,\), got \(2,\)"):
        F.kappa_weighted_mean(per_step, torch.ones(2))


def test_membrane_loss_is_the_weighted_mean_of_per_step_errors():
    g = torch.Generator().manual_seed(0)
    v_hat, v, kappa = torch.randn(4, 2, 3, generator=g), torch.randn(4, 2, 3, generator=g), torch.rand(4, generator=g)
    per_step = [((v_hat[t] - v[t]) ** 2).mean().item() for t in range(4)]
    expected = sum(k * e for k, e in zip(kappa.tolist(), per_step)) / 4
    assert F.membrane_loss_terms(v_hat, v, kappa).item() == pytest.approx(expected, rel=1e-6)


def test_functional_takes_no_backend_and_imports_no_ops():
    with pytest.raises(TypeError, match="backend"):
        F.mpe_psn(torch.randn(3, 4), backend="cpu")
    folder = Path(F.__file__).parent
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("mpe_psn.ops") for n in names), f"{path.name} imports {names}"
