"""Ways to run a transformer encoder: PyTorch (fp32, bf16 autocast, int8 dynamic quantisation) or ONNX Runtime.

Every backend maps a tokenizer batch (``{name: LongTensor}``) to the float32 last hidden state on the CPU,
so pooling code does not care which one ran.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from hybrid.dense.encoders import BACKENDS


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
        model = AutoModel.from_pretrained(model_path, attn_implementation="eager")
        return OnnxBackend(_onnx_session(model, sample_inputs, quantize=backend == "onnx-int8"))
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


def _onnx_session(model: torch.nn.Module, sample_inputs, quantize: bool):
    """Export ``model`` to ONNX in a temporary folder, fuse BERT's attention, optionally quantise, and open it."""
    try:
        import onnx
        import onnxruntime as ort
    except ImportError as err:
        raise ImportError(f"the onnx backends need the packages onnx and onnxruntime ({err})") from err
    names = list(sample_inputs.keys())
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, "last_hidden_state"]}
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="hybrid-onnx-") as folder, _quiet():
        path = Path(folder) / "model.onnx"
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

            quantized = Path(folder) / "model-int8.onnx"
            quantize_dynamic(
                str(path),
                str(quantized),
                weight_type=QuantType.QInt8,
                per_channel=True,
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
            path = quantized
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


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
