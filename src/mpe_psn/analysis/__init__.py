"""Analyses of trained networks: the paper's figures as functions, numbers and pictures.

Each analysis is a function ``(model, batches, *, max_batches, progress, **options) -> dict``
(plain JSON-able values), listed with its figure and text table in :mod:`registry`:

* :func:`fidelity.fidelity`: estimate vs exact LIF potentials per layer and step (Fig. 3a);
  the measurement lives in :mod:`mpe_psn.models.fidelity` because training logs its cheap
  once-per-epoch version, ``fidelity_summary``, too.
* :func:`spike_rates.spike_rates`: firing rate of every spiking layer (Fig. 3b).
* :func:`energy.energy`: synaptic operations and the 45 nm energy estimate, under a stated
  counting rule (``counting="dense"``, the default, or NeuroBench's ``"effective"``).
* :func:`neurobench.neurobench`: NeuroBench's own ``Benchmark`` metrics (optional dependency,
  ``pip install 'mpe-psn[neurobench]'``, imported inside the function).
* :func:`landscape.loss_landscape`: 2-D loss surface along filter-normalised directions (Fig. 4).
* :func:`refine.refinement_dial`: accuracy, spike mismatch and time per refinement step count.

``batches`` is any iterable of ``(x, y)`` with ``x`` batch-major [B, T, ...] (what
``mpe_psn.data.build_loader`` yields); :func:`mpe_psn.models.batches.model_input` turns it into
the models' [T, B, ...]. :mod:`plots` draws each result, :mod:`tables` prints it;
:func:`runner.run_analysis` ties them to checkpoints (``mpe-psn analyze``, ``mpe_psn.commands.analyze``).

Import the functions from their modules (``from mpe_psn.analysis.fidelity import fidelity``);
this package file stays empty so that the command line can import the registry cheaply.
"""
