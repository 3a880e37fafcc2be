"""Internal models the experts use; never registered as experts."""
