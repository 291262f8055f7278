"""A handler module whose import fails."""

raise RuntimeError("import-time failure")
