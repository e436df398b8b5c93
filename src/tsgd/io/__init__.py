"""tsgd.io."""
