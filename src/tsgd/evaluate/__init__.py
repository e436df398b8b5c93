"""tsgd.evaluate."""
