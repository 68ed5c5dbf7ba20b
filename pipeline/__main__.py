"""``python -m pipeline`` runs the ``codeer`` command line."""

from pipeline.cli import app

app()
