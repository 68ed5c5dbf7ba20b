"""Stage 1, ingest: transcripts (txt, md, docx, odt, vtt, srt) and the interview sheet into
documents and segments with character offsets.

* :mod:`~pipeline.ingest.readers`: one reader per file format, bytes to normalised text;
* :mod:`~pipeline.ingest.turns`: speaker labels and turns;
* :mod:`~pipeline.ingest.core`: roles, sentences, offsets, lemmas (DataFrames out);
* :mod:`~pipeline.ingest.command`: ``codeer ingest`` (reads RAW, writes OUT).
"""
