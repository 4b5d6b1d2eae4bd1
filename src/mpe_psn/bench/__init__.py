"""Benchmarks: one spiking layer over a grid of sizes (the paper's Fig. 1 and past it), and one
training step of the paper's networks with each neuron. Entry point: ``mpe-psn bench``."""
