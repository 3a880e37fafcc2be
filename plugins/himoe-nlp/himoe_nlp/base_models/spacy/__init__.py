"""spaCy pipelines (spaCy itself is imported lazily, on first use)."""
