"""Review: the researcher's decisions on coded passages, and what they show about the coder.

* :mod:`~pipeline.review.decisions`: the append-only review log ``OUT/reviews.csv``;
* :mod:`~pipeline.review.agreement`: precision, recall, F1, kappa and alpha against a gold file
  or the review log;
* :mod:`~pipeline.review.calibrate`: per-code thresholds from the review log;
* :mod:`~pipeline.review.notebook`: helpers for the review notebooks.
"""
