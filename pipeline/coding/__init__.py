"""Stage 2, code: the codebook applied to segments, with evidence per coding.

* :mod:`~pipeline.coding.codebook`: ``codebook.yaml`` into validated models;
* :mod:`~pipeline.coding.rules`: lemma rules (``NEAR/n``, ``NOT``, wildcards) on spaCy;
* :mod:`~pipeline.coding.prototypes`: segments in context and the codebook's texts as vectors;
* :mod:`~pipeline.coding.coder`: scoring and assigning codes (DataFrames in and out);
* :mod:`~pipeline.coding.command`: ``codeer code``.
"""
