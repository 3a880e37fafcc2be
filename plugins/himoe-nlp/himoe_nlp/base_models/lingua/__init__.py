"""lingua language detectors (lingua itself is imported lazily, on first use)."""
