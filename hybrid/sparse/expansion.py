"""Document expansion with predicted queries (doc2query-T5 / docTTTTTquery).

Output is JSON lines ``{"id": docid, "predicted_queries": [query, ...]}`` in corpus order. It can be
generated here with a seq2seq model (:func:`expand`) or converted from castorini's published
predictions (:func:`import_predictions`). torch and transformers are imported only by :func:`expand`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from hybrid.errors import InputError
from hybrid.formats import count_documents, iter_corpus
from hybrid.formats.text import json_lines, open_text
from hybrid.io import atomic_write

# docTTTTTquery's sampling set-up: top-k sampling with k=10, 40 samples per passage.
DEFAULT_SAMPLES = 40
DEFAULT_TOP_K = 10
MAX_INPUT_TOKENS = 512
MAX_QUERY_TOKENS = 64


def read_expansions(path: str | os.PathLike[str]) -> dict[str, tuple[int, list[str]]]:
    """Read an expansions file as ``{docid: (line_number, predicted_queries)}``; bad lines are named."""
    expansions: dict[str, tuple[int, list[str]]] = {}
    for number, obj in json_lines(path):
        docid = obj.get("id", obj.get("_id"))
        if docid is None or docid == "":
            raise InputError(path, number, 'expansion has no document id ("id")')
        queries = obj.get("predicted_queries")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise InputError(path, number, '"predicted_queries" must be a list of strings')
        docid = str(docid)
        if docid in expansions:
            raise InputError(
                path, number, f"duplicate document id {docid!r} (first on line {expansions[docid][0]})"
            )
        expansions[docid] = (number, queries)
    return expansions


def expand(
    corpus: str | os.PathLike[str],
    model: str | os.PathLike[str],
    output: str | os.PathLike[str],
    num_samples: int = DEFAULT_SAMPLES,
    top_k: int = DEFAULT_TOP_K,
    batch_size: int = 8,
    max_input_tokens: int = MAX_INPUT_TOKENS,
    max_query_tokens: int = MAX_QUERY_TOKENS,
    device: str = "cpu",
    seed: int = 42,
    overwrite: bool = False,
) -> Path:
    """Predict ``num_samples`` queries per document with a seq2seq model and append them to ``output``.

    ``model`` is a Hugging Face name (``castorini/doc2query-t5-base-msmarco``) or folder. Each document's
    ``contents`` (title + " " + text) is truncated to ``max_input_tokens`` tokens; queries are drawn by
    top-k sampling. The run is resumable: documents already in ``output`` are skipped (a torn last line
    is dropped), so only ``overwrite=True`` starts afresh. A run seeded with ``seed`` and never
    interrupted gives the same output each time on the same hardware.
    """
    if min(num_samples, top_k, batch_size, max_input_tokens, max_query_tokens) < 1:
        raise ValueError("num_samples, top_k, batch_size and the token limits must be positive")
    output = Path(output)
    total = count_documents(corpus)
    done = set() if overwrite else _resume(output)
    output.parent.mkdir(parents=True, exist_ok=True)

    import torch
    from tqdm.auto import tqdm
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    torch.manual_seed(seed)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(model))
        generator = AutoModelForSeq2SeqLM.from_pretrained(str(model)).to(device).eval()
    except OSError as err:
        raise FileNotFoundError(f"{model}: cannot load a seq2seq model and its tokenizer ({err})") from err
    with (
        open(output, "w" if overwrite else "a", encoding="utf-8") as out,
        tqdm(total=total, initial=len(done), desc="doc2query", unit="doc") as progress,
    ):
        for batch in _batches((d for d in iter_corpus(corpus) if d.docid not in done), batch_size):
            inputs = tokenizer(
                [doc.contents for doc in batch],
                max_length=max_input_tokens,
                truncation=True,
                padding=True,
                return_tensors="pt",
            ).to(device)
            with torch.inference_mode():
                generated = generator.generate(
                    **inputs,
                    max_length=max_query_tokens,
                    do_sample=True,
                    top_k=top_k,
                    num_return_sequences=num_samples,
                )
            queries = tokenizer.batch_decode(generated, skip_special_tokens=True)
            for i, doc in enumerate(batch):
                predicted = [q.strip() for q in queries[i * num_samples : (i + 1) * num_samples]]
                out.write(json.dumps({"id": doc.docid, "predicted_queries": predicted}) + "\n")
            out.flush()
            progress.update(len(batch))
    return output


def import_predictions(
    corpus: str | os.PathLike[str],
    predictions: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    overwrite: bool = False,
) -> Path:
    """Convert castorini's published predictions to an expansions file.

    Each predictions file has one line per document, in corpus order: either one sampled query per
    line (one file per sample) or all of a document's queries on one line (the samples pasted
    together, as in docTTTTTquery's instructions). Line ``i`` of every file expands document ``i``.
    """
    if not predictions:
        raise ValueError("give at least one predictions file")
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(open_text(path)) for path in predictions]
        with atomic_write(output, overwrite=overwrite) as out:
            number = 0
            for number, doc in enumerate(iter_corpus(corpus), start=1):
                queries = []
                for path, reader in zip(predictions, readers, strict=True):
                    line = reader.readline()
                    if not line:
                        raise InputError(
                            path, number, f"file ends before document {doc.docid!r} (line {number})"
                        )
                    if line.strip():
                        queries.append(line.rstrip("\r\n"))
                out.write(json.dumps({"id": doc.docid, "predicted_queries": queries}) + "\n")
            for path, reader in zip(predictions, readers, strict=True):
                if reader.readline():
                    raise InputError(path, number + 1, f"more lines than the corpus has documents ({number})")
    return Path(output)


def _resume(output: Path) -> set[str]:
    """Ids already written to ``output``; a torn last line (an interrupted write) is cut off first."""
    if not output.exists():
        return set()
    with open(output, "rb+") as handle:
        data = handle.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            handle.truncate(end)
    if end == 0:
        return set()
    return set(read_expansions(output))


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
