"""tsgd.distill."""
