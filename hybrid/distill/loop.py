"""The training loop shared by the teacher and the student: AdamW with linear warmup and decay,
gradient accumulation, bf16/fp16 autocast on GPU, checkpoints with exact resume, tqdm and a JSONL log.

Under data parallelism (Ray Train) every worker reads the same stream of global batches and ``loss_fn``
receives the whole batch: it computes the loss of its worker's part (:func:`worker_part`), gathering
from the other workers what it needs (:func:`gather_rows`); the gradients are averaged before each step.

A checkpoint (``<checkpoint_dir>/step-NNNNNNN/state.pt``) holds the model, optimizer, scheduler,
gradient scaler and random-generator states; the triple stream is a pure function of (file, seed,
position), so resuming reproduces the uninterrupted run.

On CPU, freed memory stays in the process heap while the loop runs (:func:`hybrid.heap.heap_reuse`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from hybrid.distill.triples import Triple, iter_batches
from hybrid.heap import heap_reuse
from hybrid.io import atomic_directory, atomic_write, check_writable

PRECISIONS = ("fp32", "bf16", "fp16")
KEEP_CHECKPOINTS = 2
LOG_FILE = "log.jsonl"
# Options that fix which triples each step sees: a resumed run must keep them.
_DATA_OPTIONS = ("batch_size", "accumulation", "seed", "shuffle")

# The loss of this worker's part of a global batch (the whole batch in one process).
LossFn = Callable[[list[Triple]], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class TrainingOptions:
    """Optimisation settings. ``steps`` counts optimizer updates of ``batch_size * accumulation`` triples."""

    steps: int = 1000
    batch_size: int = 16
    learning_rate: float = 2e-5
    warmup_steps: int = 0
    accumulation: int = 1
    seed: int = 42
    precision: str = "fp32"
    checkpoint_every: int = 0
    max_grad_norm: float = 1.0
    weight_decay: float = 0.01
    device: str = "cpu"
    shuffle: bool | None = None

    def check(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.accumulation < 1:
            raise ValueError("steps, batch size and accumulation must be positive")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.precision != "fp32" and not self.device.startswith("cuda"):
            raise ValueError(f"{self.precision} training needs a CUDA device (device is {self.device!r})")


def train(
    model: torch.nn.Module,
    loss_fn: LossFn,
    triples: str | os.PathLike[str],
    options: TrainingOptions,
    output: str | os.PathLike[str],
    save: Callable[[Path], None],
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Train ``model`` by minimising ``loss_fn`` over batches of triples; ``save(folder)`` writes the
    result, which lands atomically at ``output``. The log is ``<checkpoint_dir>/log.jsonl`` and is
    copied into ``output``; ``checkpoint_dir`` defaults to ``<output>.checkpoints``."""
    options.check()
    output = Path(output)
    if not Path(triples).is_file():
        raise FileNotFoundError(f"{triples}: no such triples file")
    check_writable(output, overwrite)
    checkpoints = Path(checkpoint_dir) if checkpoint_dir else output.with_name(output.name + ".checkpoints")
    rank, world = data_parallel_rank()
    if options.batch_size % world:
        raise ValueError(f"batch size {options.batch_size} must be a multiple of the {world} workers")
    if rank == 0:
        _prepare_checkpoints(checkpoints, resume, overwrite)
    if world > 1:
        torch.distributed.barrier()

    _seed_everything(options.seed)
    model.to(options.device).train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=options.learning_rate, weight_decay=options.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_then_linear(options))
    scaler = torch.amp.GradScaler("cuda", enabled=options.precision == "fp16")
    step = _restore(checkpoints, model, optimizer, scheduler, scaler, options) if resume else 0
    earlier_seconds = 0.0  # the log's "seconds" count training since step 0, over every resumed stretch
    if resume and rank == 0:  # rank 0 alone: another rank replacing the log would orphan rank 0's appends
        earlier_seconds = _truncate_log(checkpoints / LOG_FILE, step)

    from tqdm.auto import tqdm

    triples_per_step = options.batch_size * options.accumulation
    batches = iter_batches(
        triples, options.batch_size, options.seed, options.shuffle, step * triples_per_step
    )
    started = time.perf_counter() - earlier_seconds
    with (
        heap_reuse() if torch.device(options.device).type == "cpu" else nullcontext(),
        tqdm(total=options.steps, initial=step, desc="training", unit="step", disable=rank > 0) as progress,
        open(checkpoints / LOG_FILE, "a", encoding="utf-8") if rank == 0 else nullcontext() as log,
    ):
        while step < options.steps:
            loss, parts = _one_step(model, loss_fn, batches, optimizer, scheduler, scaler, trainable, options)
            step += 1
            if rank > 0:
                continue
            record = {"step": step, "loss": loss, "lr": scheduler.get_last_lr()[0], **parts}
            record["seconds"] = round(time.perf_counter() - started, 3)
            log.write(json.dumps(record) + "\n")
            log.flush()
            progress.set_postfix(loss=f"{loss:.4f}")
            progress.update()
            if options.checkpoint_every and step % options.checkpoint_every == 0 and step < options.steps:
                _save_checkpoint(checkpoints, step, model, optimizer, scheduler, scaler, options)
    model.eval()
    if rank > 0:
        return output
    with atomic_directory(output, overwrite=overwrite) as folder:
        save(folder)
        shutil.copyfile(checkpoints / LOG_FILE, folder / "training_log.jsonl")
        (folder / "training_options.json").write_text(json.dumps(asdict(options), indent=2) + "\n")
    return output


def _one_step(
    model, loss_fn, batches, optimizer, scheduler, scaler, trainable, options
) -> tuple[float, dict]:
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16 if options.precision == "bf16" else torch.float16)
        if options.precision != "fp32"
        else nullcontext()
    )
    total, parts_sum = 0.0, {}
    for _ in range(options.accumulation):
        with autocast:
            loss, parts = loss_fn(next(batches))
        scaler.scale(loss / options.accumulation).backward()
        total += loss.item() / options.accumulation
        for name, value in parts.items():
            parts_sum[name] = parts_sum.get(name, 0.0) + value / options.accumulation
    if torch.distributed.is_initialized():  # data parallel: every worker steps with the mean gradient
        total, parts_sum = _average_across_workers(trainable, total, parts_sum)
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(trainable, options.max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return total, parts_sum


def data_parallel_rank() -> tuple[int, int]:
    """``(rank, world size)`` of the torch.distributed group training runs in (Ray Train), else ``(0, 1)``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def worker_part(batch: list) -> list:
    """This worker's contiguous ``len(batch) / world`` slice of a global batch (the whole batch in one process)."""
    rank, world = data_parallel_rank()
    part = len(batch) // world
    return batch[rank * part : (rank + 1) * part]


def gather_rows(tensor: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Every worker's ``tensor`` (``sizes[k]`` rows from worker ``k``) concatenated in worker order, on every
    worker; differentiable: the gradient of each worker's rows is summed over the workers that used them and
    returned to their owner (so the averaged gradient is that of the global batch's loss). One worker: as is."""
    if len(sizes) == 1:
        return tensor
    widest = max(sizes)
    padded = torch.nn.functional.pad(tensor, (0, 0) * (tensor.dim() - 1) + (0, widest - tensor.shape[0]))
    gathered = _AllGather.apply(padded)
    return torch.cat([gathered[k * widest : k * widest + size] for k, size in enumerate(sizes)])


class _AllGather(torch.autograd.Function):
    """all_gather of equal-shaped tensors along dim 0; backward all-reduces (sums) the gradient and keeps this
    worker's rows (gloo has no reduce-scatter)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.rows = torch.distributed.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        torch.distributed.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def _average_across_workers(trainable, loss: float, parts: dict) -> tuple[float, dict]:
    """All-reduce the gradients (as DDP does) and the logged loss terms to their mean over the workers."""
    world = torch.distributed.get_world_size()
    for parameter in trainable:
        if parameter.grad is not None:
            torch.distributed.all_reduce(parameter.grad)
            parameter.grad /= world
    values = torch.tensor([loss, *parts.values()], dtype=torch.float64)
    torch.distributed.all_reduce(values)
    values = (values / world).tolist()
    return values[0], dict(zip(parts, values[1:], strict=True))


def _warmup_then_linear(options: TrainingOptions) -> Callable[[int], float]:
    """Learning-rate factor: linear warmup over ``warmup_steps``, then linear decay to 0 at ``steps``."""
    warmup, steps = options.warmup_steps, options.steps

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return factor


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _prepare_checkpoints(folder: Path, resume: bool, overwrite: bool) -> None:
    existing = _checkpoint_steps(folder)
    if resume and not existing:
        raise FileNotFoundError(f"{folder}: no checkpoint to resume from")
    if not resume and folder.exists():
        # a log without a checkpoint (a run stopped before its first checkpoint) is nothing to resume
        if existing and not overwrite:
            raise FileExistsError(
                f"{folder} holds an earlier training; pass --resume, or --overwrite to restart"
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)


def _checkpoint_steps(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return sorted(int(p.name[5:]) for p in folder.glob("step-*") if (p / "state.pt").is_file())


def _save_checkpoint(folder: Path, step: int, model, optimizer, scheduler, scaler, options) -> None:
    state = {
        "step": step,
        "options": asdict(options),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        },
    }
    with (
        atomic_directory(folder / f"step-{step:07d}", overwrite=True) as tmp,
        atomic_write(tmp / "state.pt", mode="wb") as handle,
    ):
        torch.save(state, handle)
    for old in _checkpoint_steps(folder)[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(folder / f"step-{old:07d}")


def _restore(folder: Path, model, optimizer, scheduler, scaler, options: TrainingOptions) -> int:
    step = _checkpoint_steps(folder)[-1]
    path = folder / f"step-{step:07d}" / "state.pt"
    state = torch.load(path, map_location=options.device, weights_only=False)
    for name in _DATA_OPTIONS:
        if state["options"][name] != getattr(options, name):
            raise ValueError(
                f"{path}: checkpoint was trained with {name}={state['options'][name]!r}, "
                f"now {getattr(options, name)!r}; resume with the same value"
            )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    scaler.load_state_dict(state["scaler"])
    random.setstate(state["rng"]["python"])
    np.random.set_state(state["rng"]["numpy"])
    torch.set_rng_state(state["rng"]["torch"].cpu())
    if state["rng"]["cuda"]:
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    return step


def _truncate_log(path: Path, step: int) -> float:
    """Drop log lines of steps after the checkpoint (they will be run again); return the training seconds
    the kept lines had reached."""
    if not path.exists():
        return 0.0
    records = (json.loads(line) for line in path.read_text().splitlines())
    kept = [record for record in records if record["step"] <= step]
    with atomic_write(path, overwrite=True) as out:
        out.writelines(json.dumps(record) + "\n" for record in kept)
    return float(kept[-1].get("seconds", 0.0)) if kept else 0.0
