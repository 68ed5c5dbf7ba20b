"""Stage 3, themes: what respondents talk about that the codebook does not cover (BERTopic).

* :mod:`~pipeline.themes.core`: clustering, Dutch keywords, relation to the codes;
* :mod:`~pipeline.themes.command`: ``codeer themes``.
"""
