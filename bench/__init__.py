"""codeer's benchmark: developer tooling, run from the repository (``make bench``), not
installed with the package."""
