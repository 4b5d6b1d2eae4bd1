"""Weight decay on every parameter vs on weights only, on the built-in data (docs/training.md).

    python scripts/measure_weight_decay.py 5e-4 600     # weight decay, training samples
    python scripts/measure_weight_decay.py 5e-3 300

Prints one JSON line per run (seeds 0, 1, 2; each once with one decayed group for every
parameter, once with the groups of mpe_psn.training.optim.parameter_groups).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import mpe_psn.training.loop as loop
import mpe_psn.training.setup as setup
from mpe_psn.models import neuron_layers
from mpe_psn.training.config import TrainConfig


def main(weight_decay: float, num_train: int, epochs: int = 8) -> None:
    every_parameter = {"on": False}
    by_group = setup._optimizer_params
    # one decayed group for every parameter (the behaviour before the groups), or the groups
    setup._optimizer_params = (lambda net, content, log: list(net.parameters()) if every_parameter["on"]
                               else by_group(net, content, log))
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (0, 1, 2):
            for on in (True, False):
                every_parameter["on"] = on
                config = TrainConfig.from_dict(dict(
                    dataset="synthetic", dataset_options={"num_train": num_train, "num_test": 300, "seed": 0},
                    model="small", T=8, input_size=32, epochs=epochs, batch_size=32, optimizer="sgd", lr=0.05,
                    momentum=0.9, weight_decay=weight_decay, schedule="cosine", out=tmp, name=f"s{seed}-{on}",
                    device="cpu", neuron="mpe", seed=seed,
                ))
                start = time.time()
                result = loop.train(config, progress=False, log=lambda message: None)
                print(json.dumps({
                    "weight_decay": weight_decay, "num_train": num_train, "seed": seed, "decay_every_parameter": on,
                    "final_acc": result.final_acc, "final_train_loss": result.metrics[-1]["train_loss"],
                    "thresholds": [float(m.threshold.detach()) for m in neuron_layers(result.model)],
                    "seconds": round(time.time() - start, 1),
                }), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]), int(sys.argv[2]))
