"""``python -m pipeline`` runs the ``codeer`` command line."""

from pipeline.cli import app

app(prog_name="codeer")  # usage lines and hints name the command researchers type
