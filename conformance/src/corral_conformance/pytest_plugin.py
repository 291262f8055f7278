"""pytest plugin (placeholder while the real one is written)."""
