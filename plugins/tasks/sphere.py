"""Inputs on the unit sphere and teacher randomness independent of the data seed."""

import numpy as np

from harness import BenchError


def unit_sphere(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniform on the unit sphere of R^d (standard Gaussian, normalised)."""
    X = rng.standard_normal((n, d))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def teacher_rng(name: str, teacher_seed: int) -> np.random.Generator:
    """The teacher's own generator: fixed by ``teacher_seed``, independent of the data seed."""
    return np.random.default_rng([teacher_seed, *name.encode()])


def check_int(task: str, key: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise BenchError(f"{task}: {key} must be an integer >= {low}, got {value!r}")
