"""tsgd.data."""
