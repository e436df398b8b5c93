"""tsgd.teacher."""
