"""Analyses of trained networks: the paper's figures as functions, numbers and pictures.

Each analysis is a function ``(model, batches, options) -> dict`` (plain JSON-able values):

* :func:`fidelity.fidelity`: estimate vs exact LIF potentials per layer and step (Fig. 3a);
  :func:`fidelity.fidelity_summary` is the cheap once-per-epoch version for training logs.
* :func:`spike_rates.spike_rates`: firing rate of every spiking layer (Fig. 3b).
* :func:`energy.energy`: synaptic operations and the 45 nm energy estimate.
* :func:`landscape.loss_landscape`: 2-D loss surface along filter-normalised directions (Fig. 4).
* :func:`refine.refinement_dial`: accuracy, spike mismatch and time per refinement step count.

``batches`` is any iterable of ``(x, y)`` with ``x`` batch-major [B, T, ...] (what
``mpe_psn.data.build_loader`` yields); the analyses transpose to the models' [T, B, ...].
:mod:`plots` draws each result; ``mpe-psn analyze`` (``analyze_command``) ties them to checkpoints.

Import the functions from their modules (``from mpe_psn.analysis.fidelity import fidelity``);
this package file stays empty so that the CLI can import ``analyze_command`` cheaply.
"""
