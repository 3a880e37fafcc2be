"""The logistic model reads an encoding's sparse view (`Encoded.indices`/`.values`), or its split,
as it reads the dense vector: the same numbers to the bit, without scanning `dim` coordinates."""

from __future__ import annotations

import numpy as np
import pytest

from himoe_core import InputData
from himoe_core._learning import DiagonalLogisticModel
from himoe_core.routing import HashingEncoder

TEXTS = [
    "Natalia sold clips to 48 of her friends in April",
    "How many cups of feed does she need?",
    "Weng earns $12 an hour for babysitting.",
    "",
    "a a a a b",
    "Betty is saving money for a new wallet",
]


def with_bias(encoded):
    """The dense features and their sparse form, both with the bias a router appends."""
    dense = np.append(encoded.vector.astype(np.float64), 1.0)
    sparse = (np.append(encoded.indices, encoded.dim), np.append(encoded.values.astype(np.float64), 1.0))
    return dense, sparse


@pytest.mark.parametrize("length, covariance", [(True, "block"), (False, "diagonal"), (True, "full")])
def test_sparse_dense_and_split_inputs_give_the_same_model_to_the_bit(length, covariance):
    """The dense vector, its sparse form and the encoding split once for a decision and its
    update (`split_biased`, what the logistic router passes) are one input to the model."""
    encoder = HashingEncoder(dim=64, length=length)
    dim = encoder.dim + 1
    block = {"block": 2, "diagonal": 0, "full": dim}[covariance]
    models = [DiagonalLogisticModel(dim, 0.5, block) for _ in range(3)]
    rng = np.random.default_rng(3)
    for step in range(60):
        encoded = encoder.encode(InputData.text(TEXTS[step % len(TEXTS)]))
        dense, sparse = with_bias(encoded)
        inputs = [dense, sparse, models[2].split_biased(encoded.indices, encoded.values)]
        scored = [model.mean_and_width([0, 1], x) for model, x in zip(models, inputs)]
        for means, widths in scored[1:]:
            assert means.tobytes() == scored[0][0].tobytes() and widths.tobytes() == scored[0][1].tobytes()
        arm, reward = int(rng.integers(2)), float(rng.integers(2))
        predicted = [model.learn(arm, x, reward) for model, x in zip(models, inputs)]
        assert predicted[1:] == predicted[:1] * 2
    for other in models[1:]:
        for key, value in models[0].state_dict().items():
            assert np.asarray(value).tobytes() == np.asarray(other.state_dict()[key]).tobytes(), key
    assert models[0].n[0] + models[0].n[1] == 60 and np.any(models[0].mean[0] != 0)


def test_sparse_input_touches_only_its_coordinates():
    model = DiagonalLogisticModel(6, prior=1.0, dense=2)
    model.learn(0, (np.array([1, 3, 5]), np.array([0.5, -2.0, 1.0])), 1.0)
    mean = model.mean[0]
    assert mean[[0, 2]].tolist() == [0.0, 0.0] and mean[1] > 0 and mean[3] < 0 and mean[5] > 0
    assert mean[4] == 0.0  # in the dense block, but zero in the input: its weight moves only through correlation


@pytest.mark.parametrize(
    "x, message",
    [
        ((np.array([0, 9]), np.array([1.0, 1.0])), r"indices must lie in \[0, 6\)"),
        ((np.array([-1, 2]), np.array([1.0, 1.0])), r"indices must lie in \[0, 6\)"),
        ((np.array([0, 1]), np.array([1.0])), "two 1-D arrays of one length"),
        ((np.array([0.0, 1.0]), np.array([1.0, 1.0])), "integer indices"),
    ],
)
def test_bad_sparse_input_is_a_clear_error(x, message):
    with pytest.raises(ValueError, match=message):
        DiagonalLogisticModel(6).learn(0, x, 1.0)
    with pytest.raises(ValueError, match=message):
        DiagonalLogisticModel(6).mean_and_width([0], x)
