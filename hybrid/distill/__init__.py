"""TCT-ColBERT distillation: a ColBERT teacher (MaxSim), triples, in-batch KD into the dot-product student.

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
    "TrainingOptions": "hybrid.distill.loop",
    "kd_loss": "hybrid.distill.training",
    "train_student": "hybrid.distill.training",
    "load_student": "hybrid.distill.training",
    "rerank": "hybrid.distill.rerank",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = list(_LAZY)
