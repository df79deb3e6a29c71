"""Distillation: a ColBERT teacher (MaxSim), triples and candidate lists with hard negatives,
pseudo-queries for unjudged corpora, stored teacher scores, and in-batch + listwise KD into the
dot-product student.

Importing this package is light; torch and transformers load inside the modules that need them.
"""

from hybrid._lazy import lazy_attributes

_LAZY = {
    "ColBERT": "hybrid.distill.teacher",
    "TeacherConfig": "hybrid.distill.teacher",
    "maxsim": "hybrid.distill.teacher",
    "train_teacher": "hybrid.distill.teacher",
    "Triple": "hybrid.distill.triples",
    "read_triples": "hybrid.distill.triples",
    "mine_triples": "hybrid.distill.triples",
    "iter_batches": "hybrid.distill.triples",
    "Example": "hybrid.distill.triples",
    "read_examples": "hybrid.distill.triples",
    "mine_lists": "hybrid.distill.triples",
    "TeacherScores": "hybrid.distill.scores",
    "score_matrix": "hybrid.distill.scores",
    "cross_fitted": "hybrid.distill.scores",
    "stacked": "hybrid.distill.scores",
    "last_sentence_queries": "hybrid.distill.pseudo",
    "write_pseudo_queries": "hybrid.distill.pseudo",
    "split_qrels": "hybrid.distill.splits",
    "fold_queries": "hybrid.distill.splits",
    "LossWeights": "hybrid.distill.training",
    "margin_mse_loss": "hybrid.distill.training",
    "TrainingOptions": "hybrid.distill.loop",
    "kd_loss": "hybrid.distill.training",
    "train_student": "hybrid.distill.training",
    "load_student": "hybrid.distill.training",
    "rerank": "hybrid.distill.rerank",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = list(_LAZY)
