from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np


@attrs.define
class EmbeddingsBatch:
    """The texts of one trio run gathered for one `/v1/embeddings` call, and its outcome:
    `full` is set when it holds `batch_size` texts, `done` when the call ended (with `vectors`,
    or `error`); `deadline` is the latest of its requests' deadlines (trio time)."""

    full: Any
    done: Any
    texts: list[str] = attrs.field(factory=list)
    deadline: float = -math.inf
    vectors: dict[str, np.ndarray] = attrs.field(factory=dict)
    error: str | None = None
