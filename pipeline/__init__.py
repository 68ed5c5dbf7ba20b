"""codeer: offline, reproducible qualitative coding of Dutch interview transcripts.

Stages (one module each): ``ingest`` -> ``code`` -> ``themes`` -> ``export``; ``review`` and
``evaluate`` work on the outputs. Paths and defaults live in :mod:`pipeline.config`, the data
contracts between stages in :mod:`pipeline.schema`.
"""

__version__ = "0.1.0"
