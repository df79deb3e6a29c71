"""Ways to run a transformer encoder: PyTorch (fp32, bf16 autocast, int8 dynamic quantisation) or ONNX Runtime
(fp32, int8 dynamic quantisation, or int8 with per-token activation scales in the feed-forward layers).

Every backend maps a tokenizer batch (``{name: LongTensor}``) to the float32 last hidden state on the CPU,
so pooling code does not care which one ran.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from hybrid.dense import BACKENDS


class TorchBackend:
    """A PyTorch model, optionally under autocast (fp16 on CUDA, bf16 on CPU)."""

    def __init__(self, model: torch.nn.Module, device: str, autocast_dtype: torch.dtype | None = None):
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.autocast_dtype = autocast_dtype

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        inputs = {name: tensor.to(self.device) for name, tensor in inputs.items()}
        autocast = (
            torch.autocast(self.device.type, dtype=self.autocast_dtype)
            if self.autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with torch.inference_mode(), autocast:
            return self.model(**inputs).last_hidden_state.float().cpu()


class OnnxBackend:
    """An ONNX Runtime session over a graph exported from the same weights."""

    def __init__(self, session):
        self.session = session
        self.input_names = [node.name for node in session.get_inputs()]

    def __call__(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        feeds = {name: inputs[name].numpy().astype(np.int64) for name in self.input_names}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def make_backend(
    model_path: str, backend: str, device: str, fp16: bool, sample_inputs
) -> TorchBackend | OnnxBackend:
    """Load ``model_path`` and wrap it for ``backend``. ``sample_inputs`` (a tokenised batch) drives ONNX export."""
    from transformers import AutoModel

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if fp16 and not device.startswith("cuda"):
        raise ValueError("--fp16 needs a CUDA device; on CPU use --backend torch-bf16")
    if backend != "torch" and not device.startswith("cpu"):
        raise ValueError(
            f"backend {backend} runs on the CPU only; use --backend torch (with --fp16) on {device}"
        )
    if backend.startswith("onnx"):
        quantize = backend.partition("-")[2] or None
        return OnnxBackend(_onnx_session(cached_onnx(model_path, sample_inputs, quantize)))
    model = AutoModel.from_pretrained(model_path)
    if backend == "torch-int8":
        model = _quantize_dynamic(model)
    dtype = torch.float16 if fp16 else torch.bfloat16 if backend == "torch-bf16" else None
    return TorchBackend(model, device, dtype)


def _quantize_dynamic(model: torch.nn.Module) -> torch.nn.Module:
    """int8 weights (per output channel) and dynamically quantised activations for every Linear layer."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(
            model.eval(), {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8
        )


class _LastHiddenState(torch.nn.Module):
    """Positional inputs in, last hidden state out: the shape ONNX export wants."""

    def __init__(self, model: torch.nn.Module, input_names: list[str]):
        super().__init__()
        self.model, self.input_names = model, input_names

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        return self.model(**dict(zip(self.input_names, tensors, strict=True))).last_hidden_state


def onnx_cache_folder() -> Path:
    """Where exported ONNX models are kept: ``$HYBRID_ONNX_CACHE``, else ``~/.cache/hybrid/onnx``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hybrid" / "onnx"
    return Path(os.environ.get("HYBRID_ONNX_CACHE", default))


def cached_onnx(model_path: str, sample_inputs, quantize: str | None) -> Path:
    """The exported (and ``quantize``-d) ONNX file of ``model_path``, made once and then reused.

    The cache key is the model (its resolved folder and the size and time of every file in it, or the hub
    revision), the recipe (``quantize``, the input names, whether the CPU calls for 7-bit weights) and the
    versions of the libraries that export and quantise. A lock makes concurrent callers (e.g. Ray actors on
    one machine) wait for one export.
    """
    import fcntl

    reduce_range = quantize == "int8-token" and not cpu_has_vnni()
    key = json.dumps(
        {
            "model": _model_fingerprint(model_path),
            "recipe": quantize or "fp32",
            "reduce_range": reduce_range,
            "inputs": list(sample_inputs.keys()),
            "versions": _library_versions(),
            "format": 1,
        },
        sort_keys=True,
    )
    folder = onnx_cache_folder() / hashlib.sha256(key.encode()).hexdigest()[:32]
    path = folder / "model.onnx"
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            from transformers import AutoModel

            model = AutoModel.from_pretrained(model_path, attn_implementation="eager")
            with tempfile.TemporaryDirectory(prefix="hybrid-onnx-", dir=folder) as work:
                exported = _export_onnx(model, sample_inputs, quantize, Path(work), reduce_range)
                (folder / "key.json").write_text(key + "\n")
                os.replace(exported, path)
    return path


def _model_fingerprint(model_path: str) -> dict:
    local = Path(model_path)
    if local.is_dir():
        files = sorted(p for p in local.rglob("*") if p.is_file())
        return {
            "folder": str(local.resolve()),
            "files": [[str(p.relative_to(local)), p.stat().st_size, p.stat().st_mtime_ns] for p in files],
        }
    from transformers import AutoConfig

    return {
        "hub": model_path,
        "revision": getattr(AutoConfig.from_pretrained(model_path), "_commit_hash", None),
    }


def _library_versions() -> dict:
    import onnx
    import onnxruntime
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }


def _onnx_session(path: Path):
    """An ONNX Runtime CPU session over the model file ``path``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    # Idle worker threads sleep instead of spinning: faster on a busy machine, same results.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@functools.cache
def cpu_has_vnni() -> bool:
    """Whether this CPU has VNNI (AVX512-VNNI or AVX-VNNI). Without it ONNX Runtime's uint8 x int8 kernels
    add products in int16 pairs, which saturate for full-range weights."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split() if cpuinfo.exists() else []
    return "avx512_vnni" in flags or "avx_vnni" in flags


def _export_onnx(
    model: torch.nn.Module, sample_inputs, quantize: str | None, folder: Path, reduce_range: bool = False
) -> Path:
    """Export ``model`` to ONNX in ``folder``, fuse BERT's attention, optionally quantise; the final file's path.

    ``quantize``: None (fp32), ``"int8"`` (ONNX Runtime's dynamic int8 on every MatMul, the attention and
    the embeddings) or ``"int8-token"`` (feed-forward MatMuls with a scale per token, see
    :func:`_quantize_feed_forward_per_token`; the attention and its output projection as in ``"int8"``;
    embeddings kept fp32). ``reduce_range``: ONNX Runtime's part gets 7-bit weights, which keeps its int16
    pair sums in range on CPUs without VNNI.
    """
    try:
        import onnx
    except ImportError as err:
        raise ImportError(f"the onnx backends need the packages onnx and onnxruntime ({err})") from err
    names = list(sample_inputs.keys())
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    with _quiet():
        path = folder / "model.onnx"
        torch.onnx.export(
            _LastHiddenState(model.eval(), names),
            tuple(sample_inputs[name] for name in names),
            str(path),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
        if model.config.model_type == "bert":
            from onnxruntime.transformers.optimizer import optimize_model

            fused = optimize_model(
                str(path),
                model_type="bert",
                num_heads=model.config.num_attention_heads,
                hidden_size=model.config.hidden_size,
            )
            fused.save_model_to_file(str(path))
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            op_types = None
            if quantize == "int8-token":
                graph = onnx.load(str(path))
                _quantize_feed_forward_per_token(graph.graph)
                onnx.save(graph, str(path))
                op_types = ["MatMul", "Attention"]
            quantized = folder / "model-int8.onnx"
            quantize_dynamic(
                str(path),
                str(quantized),
                op_types_to_quantize=op_types,
                weight_type=QuantType.QInt8,
                per_channel=True,
                reduce_range=reduce_range,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            path = quantized
        return path


_GELU_OPS = ("Gelu", "BiasGelu", "FastGelu")
_GELU_MIN = 0.17  # min GELU(x): -0.16997 (erf form), -0.17004 (tanh form; the 4e-5 below 0 saturates to 0)


def _quantize_feed_forward_per_token(graph) -> None:
    """Rewrite the feed-forward MatMuls of ``graph`` (an ONNX GraphProto, opset 17) as int8 with a scale per token.

    ONNX Runtime's dynamic quantisation gives a whole batch one activation scale. In BERT's feed-forward
    layers a few tokens carry values 5-10x larger than all others, so that one scale leaves the rest few
    levels. Here every token (row) gets its own scale; weights are int8 per output column. The feed-forward
    MatMuls are the ones writing into or reading from a GELU node; the GELU output is shifted to be
    non-negative so it uses all 256 levels, and the shift is taken back out of the product exactly.
    """
    from onnx import TensorProto, helper, numpy_helper

    weights = {init.name: init for init in graph.initializer}
    producers = {name: node for node in graph.node for name in node.output}
    gelu_inputs = {node.input[0] for node in graph.node if node.op_type in _GELU_OPS}
    constants = {
        "per_token_one": np.array(1.0, np.float32),
        "per_token_tiny": np.array(1e-8, np.float32),
        "per_token_127": np.array(127.0, np.float32),
        "per_token_255": np.array(255.0, np.float32),
        "per_token_zero_128": np.array(128, np.uint8),
        "per_token_zero_0": np.array(0, np.uint8),
        "per_token_gelu_shift": np.array(_GELU_MIN, np.float32),
    }
    rewritten = []
    for node in graph.node:
        x = node.input[0] if node.op_type == "MatMul" else None
        after_gelu = x is not None and x in producers and producers[x].op_type in _GELU_OPS
        if x is None or node.input[1] not in weights or not (after_gelu or node.output[0] in gelu_inputs):
            rewritten.append(node)
            continue
        name = node.name or node.output[0]
        w = numpy_helper.to_array(weights[node.input[1]])
        w_scale = (np.abs(w).max(0) / 127).astype(np.float32)
        w_scale[w_scale == 0] = 1
        w_int8 = np.clip(np.round(w / w_scale), -127, 127).astype(np.int8)
        constants[f"{name}_w_int8"], constants[f"{name}_w_scale"] = w_int8, w_scale
        if after_gelu:
            # x + 0.17 >= 0: unsigned, zero point 0, 255 levels; x @ W = (x + 0.17) @ W - 0.17 * column sums.
            constants[f"{name}_shift_back"] = (_GELU_MIN * (w_int8 * w_scale).sum(0)).astype(np.float32)
            shifted, zero, levels = f"{name}_shifted", "per_token_zero_0", "per_token_255"
            rewritten += [
                helper.make_node("Add", [x, "per_token_gelu_shift"], [shifted]),
                helper.make_node("ReduceMax", [shifted], [f"{name}_row_max"], axes=[-1], keepdims=1),
            ]
        else:
            # Signed: symmetric around zero point 128, 127 levels either side.
            shifted, zero, levels = x, "per_token_zero_128", "per_token_127"
            rewritten += [
                helper.make_node("Abs", [x], [f"{name}_abs"]),
                helper.make_node("ReduceMax", [f"{name}_abs"], [f"{name}_row_max"], axes=[-1], keepdims=1),
            ]
        product = f"{name}_product" if after_gelu else node.output[0]
        rewritten += [
            helper.make_node("Max", [f"{name}_row_max", "per_token_tiny"], [f"{name}_row_top"]),
            helper.make_node("Div", [f"{name}_row_top", levels], [f"{name}_row_scale"]),
            helper.make_node("Div", [shifted, f"{name}_row_scale"], [f"{name}_levels"]),
            helper.make_node("QuantizeLinear", [f"{name}_levels", "per_token_one", zero], [f"{name}_uint8"]),
            helper.make_node("MatMulInteger", [f"{name}_uint8", f"{name}_w_int8", zero], [f"{name}_int32"]),
            helper.make_node("Cast", [f"{name}_int32"], [f"{name}_float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{name}_float", f"{name}_w_scale"], [f"{name}_by_column"]),
            helper.make_node("Mul", [f"{name}_by_column", f"{name}_row_scale"], [product]),
        ]
        if after_gelu:
            rewritten.append(helper.make_node("Sub", [product, f"{name}_shift_back"], [node.output[0]]))
    used = {name for node in rewritten for name in node.input}
    del graph.node[:]
    graph.node.extend(rewritten)
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    graph.initializer.extend(
        numpy_helper.from_array(value, name) for name, value in constants.items() if name in used
    )


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's and quantiser's advisory warnings and log lines."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)
