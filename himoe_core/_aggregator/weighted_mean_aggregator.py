from __future__ import annotations

import numpy as np

from .._errors import AggregationFailed
from .._router.gate_scores import GateScores
from .._value import Value, ValueKind
from .aggregated_out import AggregatedOut
from .mixing import Calls, normalised_weights, ranked, usable


class WeightedMeanAggregator:
    """The mean of embedding outputs weighted by gate probability × confidence."""

    id = "weighted_mean"

    def combine(self, calls: Calls, scores: GateScores) -> AggregatedOut:
        """The gate × confidence weighted mean of the embeddings."""
        candidates = ranked(usable(calls, self.id), scores)
        for ref, out in candidates:
            if out.value.kind is not ValueKind.EMBEDDING:
                raise AggregationFailed(
                    f"weighted_mean needs embeddings, got a {out.value.kind.value} value from {ref.name!r}"
                )
        dims = {out.value.data.shape[0] for _, out in candidates}
        if len(dims) > 1:
            raise AggregationFailed(f"weighted_mean needs embeddings of one size, got sizes {sorted(dims)}")
        weights = normalised_weights([(ref.id, scores.prob(ref.id) * out.aux.confidence) for ref, out in candidates])
        matrix = np.stack([out.value.data for _, out in candidates]).astype(np.float64)
        mean = np.asarray([w for _, w in weights]) @ matrix
        value = Value.embedding(mean.astype(np.float32))
        spread = float(np.linalg.norm(matrix - mean, axis=1).mean() / (np.linalg.norm(mean) + 1e-12))
        return AggregatedOut(value, weights, disagreement=spread)
