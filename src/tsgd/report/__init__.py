"""Looking at results: animated previews of sets, training-curve plots, the HTML report."""
