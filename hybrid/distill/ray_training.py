"""Data-parallel training on Ray Train: the loop of :mod:`hybrid.distill.loop` run by ``workers`` Ray Train
workers (a ``TorchTrainer``; gloo on CPU, nccl on GPU).

Semantics: ``--batch-size`` is the *global* batch; every worker reads the same triple stream, computes
the loss of its contiguous ``batch_size / workers`` part of each global batch, and the gradients are
all-reduced to their mean before the step (what DDP does), so every worker takes the same step. Rank 0
alone writes the log, checkpoints and the output; every rank resumes from the same checkpoint. The
teacher's pairwise loss is a mean over triples; the student's in-batch KD scores each worker's queries
against the passages of the whole global batch (gathered, with gradients: see
:mod:`hybrid.distill.training`). Both losses therefore follow the one-process loss curve of the same
global batch.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable

from hybrid.cluster import RayOptions, connect
from hybrid.errors import USER_ERRORS


def train_on_ray(train: Callable[[str], object], options: RayOptions) -> None:
    """Run ``train(device)`` on ``options.workers`` Ray Train workers joined in one torch.distributed group."""
    connect(options)
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    resources = {"CPU": 1, **({"GPU": options.gpus_per_worker} if options.gpus_per_worker else {})}
    storage = tempfile.mkdtemp(prefix="hybrid-ray-train-")
    from ray.train import WorkerGroupError

    try:
        TorchTrainer(
            _worker_loop,
            train_loop_config={"train": train},
            scaling_config=ScalingConfig(
                num_workers=options.workers,
                use_gpu=options.gpus_per_worker > 0,
                resources_per_worker=resources,
            ),
            run_config=RunConfig(storage_path=storage, name="hybrid-train"),
        ).fit()
    except WorkerGroupError as err:
        cause = _input_error(err)
        if cause is None:
            raise
        raise cause from None
    finally:
        shutil.rmtree(storage, ignore_errors=True)


def _input_error(err) -> Exception | None:
    """The first worker's bad-input error (a missing file, a bad line or flag), to report as one line
    like the same error without Ray; None for anything else."""
    for _, failure in sorted(err.worker_failures.items()):
        while failure is not None and not isinstance(failure, USER_ERRORS):
            failure = failure.__cause__
        if failure is not None:
            return failure
    return None


def _worker_loop(config: dict) -> None:
    import ray.train.torch

    device = ray.train.torch.get_device()
    config["train"](str(device))
