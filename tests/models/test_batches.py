"""The layout seam and prediction: exact values on hand-made batches."""

from __future__ import annotations

import pytest
import torch

from mpe_psn.models.batches import model_input, predict, time_major_batches


def test_model_input_is_the_time_major_transpose():
    x = torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(2, 3, 4)  # [B=2, T=3, 4]
    out = model_input(x)
    assert out.shape == (3, 2, 4) and out.dtype == torch.float32
    for b in range(2):
        for t in range(3):
            assert torch.equal(out[t, b], x[b, t].float())
    floats = torch.randn(2, 3, 1, 5, 5)
    assert torch.equal(model_input(floats), floats.transpose(0, 1))  # float data keeps its dtype and values


def test_model_input_refuses_a_batch_without_time():
    with pytest.raises(ValueError, match=r"batch-major \[B, T, \.\.\.\].*shape \(4, 5\)"):
        model_input(torch.zeros(4, 5))


def test_time_major_batches_checks_and_stops_early():
    batches = [(torch.full((2, 3, 1), float(i)), torch.tensor([i, i])) for i in range(4)]
    got = list(time_major_batches(batches, max_batches=2))
    assert len(got) == 2 and got[1][0].shape == (3, 2, 1) and float(got[1][0][0, 0, 0]) == 1.0
    with pytest.raises(ValueError, match="2 inputs but 3 labels"):
        list(time_major_batches([(torch.zeros(2, 3, 1), torch.zeros(3))]))
    with pytest.raises(ValueError, match="max_batches must be a positive int"):
        list(time_major_batches(batches, max_batches=0))


def test_predict_is_the_argmax_of_the_time_mean():
    out = torch.tensor([[[5.0, 0.0], [0.0, 1.0]], [[-6.0, 0.0], [0.0, 1.0]]])  # [T=2, B=2, C=2]
    assert predict(out).tolist() == [1, 1]  # sample 0: step 0 says class 0, the mean says class 1
    assert predict(out.to(torch.bfloat16)).tolist() == [1, 1]


def test_input_lengths_and_masked_prediction():
    from mpe_psn.models.batches import input_lengths

    x = torch.zeros(6, 3, 4)  # [T, B, channels], zero-padded
    x[0, 0, 1] = 1.0
    x[4, 0, 3] = 2.0  # sample 0 ends at step 4 (a silent step inside counts)
    x[5, 1, 0] = 1.0  # sample 1 uses every step
    # sample 2 is empty: length 1
    assert input_lengths(x).tolist() == [5, 6, 1]
    outputs = torch.zeros(6, 2, 2)
    outputs[:2, 0, 0] = 1.0  # class 0 leads in the first two steps ...
    outputs[2:, 0, 1] = 0.9  # ... class 1 in the padding, where it is larger overall
    outputs[:, 1, 1] = 1.0
    assert predict(outputs).tolist() == [1, 1]
    assert predict(outputs, torch.tensor([2, 6])).tolist() == [0, 1]
