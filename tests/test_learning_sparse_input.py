"""The logistic model reads an encoding's sparse view (`Encoded.indices`/`.values`) as it reads the
dense vector: the same numbers to the bit, without scanning `dim` coordinates."""

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
def test_sparse_and_dense_inputs_give_the_same_model_to_the_bit(length, covariance):
    encoder = HashingEncoder(dim=64, length=length)
    dim = encoder.dim + 1
    block = {"block": 2, "diagonal": 0, "full": dim}[covariance]
    dense_model, sparse_model = DiagonalLogisticModel(dim, 0.5, block), DiagonalLogisticModel(dim, 0.5, block)
    rng = np.random.default_rng(3)
    for step in range(60):
        dense, sparse = with_bias(encoder.encode(InputData.text(TEXTS[step % len(TEXTS)])))
        means_d, widths_d = dense_model.mean_and_width([0, 1], dense)
        means_s, widths_s = sparse_model.mean_and_width([0, 1], sparse)
        assert means_d.tobytes() == means_s.tobytes() and widths_d.tobytes() == widths_s.tobytes()
        arm, reward = int(rng.integers(2)), float(rng.integers(2))
        dense_model.learn(arm, dense, reward)
        sparse_model.learn(arm, sparse, reward)
    for key, value in dense_model.state_dict().items():
        assert np.asarray(value).tobytes() == np.asarray(sparse_model.state_dict()[key]).tobytes(), key
    assert dense_model.n[0] + dense_model.n[1] == 60 and np.any(dense_model.mean[0] != 0)


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
