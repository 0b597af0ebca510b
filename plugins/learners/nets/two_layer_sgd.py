"""Two-layer ReLU network trained by mini-batch SGD — the "2layer" and "2layer(last)" curves of
Allen-Zhu, Li, Liang (2019, Fig. 1) and the setting of Li & Liang (2018) and Arora et al. (2019).
Networks, initialisations and the ``train`` options: :mod:`relu_nets`."""

from __future__ import annotations

from harness import hookimpl

from .relu_nets import ALLEN_ZHU, ReLUNetLearner


class TwoLayerSGD(ReLUNetLearner):
    """x → ReLU(W x + b) → a, same options and protocol as ``three_layer_sgd``.

    ``-p train=hidden`` is the network the theory analyses (output weights fixed at their random
    initialisation, only the hidden layer trained) and Fig. 1's "2layer"; ``-p train=last`` is its
    "2layer(last)". (Before version 2, ``train_output=false`` did the former with output weights
    ±1/√m; it is now ``train=hidden``, and the output weights are those of ``init``.)
    """

    name = "two_layer_sgd"
    description = "2-layer ReLU net (width m), SGD batch 50, lr × weight decay tuned; options: train hidden/last only"
    version = "2"
    depth = 2
    data_diagnostics = ("arora_complexity",)  # Arora et al. 2019's measure for the two-layer ReLU net
    parameters = {
        "width": [1000],
        "init": ["fan_in"],
        "train": ["all"],
        "train_bias": [False],
        "lr": [0.01, 0.03, 0.1, 0.3],
        "weight_decay": [0.0, 1e-4],
        "momentum": [0.0],
        "schedule": ["early_stop"],
        "batch_size": [50],
        "epochs": [100],
        "patience": [10],
        "halving": [False],  # successive halving of the grid (plugins/learners/nets/batched.py)
    }
    presets = {"allen-zhu": {**ALLEN_ZHU, "train": ["hidden"]}}
    renamed = {"train_output": "train_output was replaced by train: train_output=false is now "
                               "-p train=hidden (output layer fixed at its random init, hidden layer trained), "
                               "train_output=true is train=all (the default)"}


@hookimpl
def register_learners(register):
    register(TwoLayerSGD())
