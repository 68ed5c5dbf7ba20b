"""Stage 4, export: what a researcher takes out of codeer, pseudonymised by default.

* :mod:`~pipeline.export.tables` and :mod:`~pipeline.export.workbook`: CSV tables and one Excel
  workbook with a Dutch explanation of every column;
* :mod:`~pipeline.export.figures`: PNG and SVG figures;
* :mod:`~pipeline.export.report`: the draft report (Markdown and HTML);
* :mod:`~pipeline.export.refiqda`: the REFI-QDA project (``.qdpx``) and codebook (``.qdc``);
* :mod:`~pipeline.export.pseudonymise` and :mod:`~pipeline.export.privacy`: names, places and
  dates replaced by placeholders, and what never leaves;
* :mod:`~pipeline.export.core`: every export built in memory; :mod:`~pipeline.export.command`:
  ``codeer export``.
"""
