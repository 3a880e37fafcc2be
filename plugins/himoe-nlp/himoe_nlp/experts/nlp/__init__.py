"""Natural-language experts."""
