"""The ColBERT teacher on a tiny random BERT: templates, masks, MaxSim, save/load, checkpoint format."""

from __future__ import annotations

import json
import shutil
import string

import pytest
import torch

from hybrid.distill.teacher import ColBERT, TeacherConfig, maxsim, maxsim_pairs

QUERIES = ["what does the virus cause", "cancer risk of the dose, high?", "a"]
DOCS = [
    "the virus cause cancer in cells.",
    "high dose: increase cancer risk!",
    "brain",
    "the heart (study) of patients, with a drug; and blood",
]


@pytest.fixture
def teacher(tiny_bert_dir) -> ColBERT:
    return ColBERT.from_pretrained(tiny_bert_dir, TeacherConfig(dim=8, query_length=12, doc_length=20)).eval()


def test_query_template_is_cls_marker_text_then_mask_padding(teacher):
    tok = teacher.tokenizer
    inputs = teacher.tokenize_queries(["the virus"])
    ids = inputs["input_ids"][0].tolist()
    expected = [tok.cls_token_id, *tok.convert_tokens_to_ids(["[", "q", "]", "the", "virus"])]
    assert ids[: len(expected)] == expected
    assert ids[len(expected) :] == [tok.mask_token_id] * (12 - len(expected))
    assert inputs["attention_mask"][0].tolist() == [1] * len(expected) + [0] * (12 - len(expected))


def test_doc_template_masks_punctuation_and_padding_only(teacher):
    tok = teacher.tokenizer
    inputs = teacher.tokenize_docs(DOCS)
    punctuation = set(tok.convert_tokens_to_ids(list(string.punctuation)))
    for row, mask, attention in zip(
        inputs["input_ids"], inputs["token_mask"], inputs["attention_mask"], strict=True
    ):
        assert row[:4].tolist() == [tok.cls_token_id, *tok.convert_tokens_to_ids(["[", "d", "]"])]
        assert mask[:4].all()  # the marker's brackets are not masked
        for token, used, attended in zip(
            row[4:].tolist(), mask[4:].tolist(), attention[4:].tolist(), strict=True
        ):
            assert used == (bool(attended) and token not in punctuation)
    assert not inputs["token_mask"].all()  # the example does contain punctuation and padding
    assert inputs["input_ids"].shape[1] <= 20


def test_token_vectors_are_unit_length(teacher):
    with torch.no_grad():
        q = teacher.encode_queries(QUERIES)
        d, _ = teacher.encode_docs(DOCS)
    assert q.shape == (3, 12, 8)
    assert torch.allclose(q.norm(dim=-1), torch.ones(3, 12), atol=1e-5)
    assert torch.allclose(d.norm(dim=-1), torch.ones(d.shape[:2]), atol=1e-5)


def test_maxsim_equals_a_direct_loop(teacher):
    with torch.no_grad():
        q = teacher.encode_queries(QUERIES)
        d, mask = teacher.encode_docs(DOCS)
        scores = teacher(QUERIES, DOCS)
    for a in range(len(QUERIES)):
        for b in range(len(DOCS)):
            total = 0.0
            for i in range(q.shape[1]):
                best = -float("inf")
                for j in range(d.shape[1]):
                    if mask[b, j]:
                        best = max(
                            best, sum(q[a, i, k].item() * d[b, j, k].item() for k in range(q.shape[2]))
                        )
                total += best
            assert scores[a, b].item() == pytest.approx(total, rel=1e-5, abs=1e-5)
    assert torch.allclose(maxsim(q, d, mask), scores)
    rows = torch.tensor([0, 2, 1])
    cols = torch.tensor([3, 0, 1])
    assert torch.allclose(maxsim_pairs(q[rows], d[cols], mask[cols]), scores[rows, cols])


def test_save_and_load_round_trip(teacher, tmp_path):
    path = teacher.save(tmp_path / "teacher")
    again = ColBERT.from_pretrained(path).eval()
    assert again.config == teacher.config
    with torch.no_grad():
        assert torch.equal(again(QUERIES, DOCS), teacher(QUERIES, DOCS))
    with pytest.raises(FileExistsError):
        teacher.save(path)


def test_a_new_teacher_projection_depends_only_on_the_seed(tiny_bert_dir):
    first = ColBERT.from_pretrained(tiny_bert_dir, seed=3)
    second = ColBERT.from_pretrained(tiny_bert_dir, seed=3)
    other = ColBERT.from_pretrained(tiny_bert_dir, seed=4)
    assert torch.equal(first.projection.weight, second.projection.weight)
    assert not torch.equal(first.projection.weight, other.projection.weight)
    assert first.projection.weight.shape == (128, 32)


def test_loads_a_colbert_checkpoint_with_its_markers(tiny_bert_dir, tmp_path):
    """A ColBERT checkpoint is a BERT saved under ``bert.`` with the projection as ``linear.weight``."""
    from safetensors.torch import save_file
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(tiny_bert_dir, add_pooling_layer=False)
    linear = torch.randn(16, 32)
    state = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    folder = tmp_path / "colbert-checkpoint"
    shutil.copytree(tiny_bert_dir, folder)
    (folder / "model.safetensors").unlink()
    save_file({**state, "linear.weight": linear}, str(folder / "model.safetensors"))
    teacher = ColBERT.from_pretrained(folder, TeacherConfig(query_length=32)).eval()
    assert teacher.config.dim == 16 and teacher.config.query_marker == "[unused0]"
    assert torch.equal(teacher.projection.weight, linear)
    ids = teacher.tokenize_queries(["the virus"])["input_ids"][0].tolist()
    tok = teacher.tokenizer
    assert ids[:5] == [
        tok.cls_token_id,
        tok.convert_tokens_to_ids("[unused0]"),
        *tok.convert_tokens_to_ids(["the", "virus"]),
        tok.sep_token_id,
    ]
    with torch.no_grad():
        states = bert(input_ids=torch.tensor([ids]), attention_mask=torch.tensor([[1] * 5 + [0] * 27]))
        expected = torch.nn.functional.normalize(states.last_hidden_state @ linear.T, dim=-1)
        assert torch.allclose(teacher.encode_queries(["the virus"]), expected, atol=1e-6)


def test_saved_config_is_json(teacher, tmp_path):
    path = teacher.save(tmp_path / "t")
    assert json.loads((path / "colbert.json").read_text())["dim"] == 8
    assert (path / "config.json").is_file() and (path / "projection.safetensors").is_file()
