"""`mpe-psn data --png` draws what docs/datasets.md says: the first sample of each class."""

import matplotlib.image
import pytest

from mpe_psn.commands import cli
from mpe_psn.data.summary import sample_indices


def test_one_sample_per_class_in_class_order():
    labels = [3, 1, 3, 0, 1, 0]
    assert sample_indices(labels, len(labels), None) == [3, 1, 0]      # first of class 0, 1, 3
    assert sample_indices(labels, len(labels), 5) == [3, 1, 0, 2, 4]   # then the next in split order
    assert sample_indices(labels, len(labels), 2) == [3, 1]
    assert sample_indices(labels, len(labels), 99) == [3, 1, 0, 2, 4, 5]
    assert sample_indices(None, 5, None) == [0, 1, 2, 3, 4]            # no labels: every sample
    assert sample_indices(None, 5, 3) == [0, 2, 4]


@pytest.mark.parametrize("extra,rows", [([], 10), (["--samples", "3"], 3)])
def test_png_has_one_row_per_class_by_default(tmp_path, extra, rows):
    png = tmp_path / "samples.png"
    status = cli.main(["data", "--cache-dir", str(tmp_path / "cache"), "-o", "num_train=20", "-o", "num_test=10",
                       "--split", "test", "--png", str(png), *extra])
    assert status == 0
    height, width = matplotlib.image.imread(png).shape[:2]
    per_row = width / 8  # T = 8 columns of square panels
    assert round(height / per_row) == pytest.approx(rows, abs=1)
