"""One plot style for every figure the package makes (benchmarks, training curves, analyses)."""

from __future__ import annotations

import io
import os
from typing import Any

from mpe_psn.utils.atomic import atomic_write_bytes

__all__ = ["NEURON_COLORS", "new_figure", "save_figure"]

#: A fixed colour per neuron/method so that figures side by side read the same way.
NEURON_COLORS: dict[str, str] = {
    "mpe": "#d62728",
    "mpe-fused": "#d62728",
    "mpe-reference": "#ff9896",
    "lif": "#1f77b4",
    "loop-lif": "#1f77b4",
    "sj-lif": "#17becf",
    "snntorch": "#9467bd",
    "psn": "#2ca02c",
    "sj-psn": "#98df8a",
    "copy": "#7f7f7f",
}

_STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 130,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 6.0, height: float = 4.0, **kwargs: Any):
    """A matplotlib ``(fig, axes)`` in the house style, on the non-interactive Agg backend."""
    # matplotlib is imported on first use: it takes 0.3-0.7 s, and every mpe-psn command imports this module
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # after use("Agg"): pyplot picks its backend when first imported

    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kwargs)
    fig.set_layout_engine("constrained")
    return fig, axes


def save_figure(fig, path: "str | os.PathLike[str]") -> None:
    """Write ``fig`` as PNG atomically and close it."""
    import matplotlib.pyplot as plt  # imported on first use, as in new_figure

    buffer = io.BytesIO()
    with plt.rc_context(_STYLE):
        fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
