"""The PT-DiT model loader honours ComfyUI's ``model_options`` as core's diffusion-model loader does:
``custom_operations`` builds the layers, ``dtype`` sets the weight storage, ``fp8_optimizations``
reaches the model config core reads. A tiny PT-DiT, in process, on whichever ComfyUI
``COMFYUI_PATH`` selects (both hosts in CI)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from ptdit import PTDiT, PTDiTConfig

torch.set_grad_enabled(False)


@pytest.fixture(scope="module")
def loader(comfy_inproc):
    return comfy_inproc.pack("nodes.model_loader")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    config = PTDiTConfig(num_heads=2, head_dim=16, num_layers=1, caption_channels=32, compress_ratios=(1, 2, 2),
                         proxy_ratios=(1, 2, 2), sample_size=16)
    torch.manual_seed(2)
    path = tmp_path_factory.mktemp("ptdit") / "tiny_ptdit.safetensors"
    save_file(PTDiT(config).state_dict(), str(path), metadata={"ptdit_config": json.dumps(config.to_dict())})
    return str(path)


def marked_operations():
    """ComfyUI's manual-cast layers under new class names, as a GGUF-style pack hands them over."""
    import comfy.ops

    base = comfy.ops.manual_cast

    class Marked(base):
        class Linear(base.Linear):
            pass

        class Conv2d(base.Conv2d):
            pass

        class LayerNorm(base.LayerNorm):
            pass

    return Marked


def velocity(model) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 16, 16, generator=g)
    context = torch.randn(1, 5, 32, generator=g)
    return model.model.apply_model(x, torch.tensor([0.6]), c_crossattn=context)


def test_custom_operations_build_every_layer(loader, model_file):
    ops = marked_operations()
    model = loader.load_ptdit_model(model_file, {"custom_operations": ops})
    layers = [m for m in model.model.diffusion_model.modules() if isinstance(m, (nn.Linear, nn.Conv2d, nn.LayerNorm))]
    assert layers and all(type(m) in (ops.Linear, ops.Conv2d, ops.LayerNorm) for m in layers)
    assert {type(m) for m in layers} == {ops.Linear, ops.Conv2d, ops.LayerNorm}
    torch.testing.assert_close(velocity(model), velocity(loader.load_ptdit_model(model_file)), atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_dtype_option_sets_the_weight_storage(loader, model_file, dtype):
    model = loader.load_ptdit_model(model_file, {"dtype": dtype})
    assert model.model.get_dtype() == dtype
    weights = [p.dtype for p in model.model.diffusion_model.parameters()]
    assert weights and set(weights) == {dtype}


def test_fp8_optimizations_reach_the_model_config(loader, model_file):
    plain = loader.load_ptdit_model(model_file)
    fast = loader.load_ptdit_model(model_file, {"fp8_optimizations": True})
    assert not plain.model.model_config.optimizations["fp8"]
    assert fast.model.model_config.optimizations["fp8"]


def test_loader_node_passes_weight_dtype_as_model_options(loader, monkeypatch):
    calls = []
    monkeypatch.setattr(loader, "PTDIT_MODELS", SimpleNamespace(path=lambda name: f"/models/{name}"))
    monkeypatch.setattr(loader, "load_ptdit_model", lambda path, options: calls.append((path, options)))
    loader.PTDiTModelLoader.execute("a.safetensors", "fp16")
    loader.PTDiTModelLoader.execute("b.safetensors", "default")
    assert calls == [("/models/a.safetensors", {"dtype": torch.float16}), ("/models/b.safetensors", {})]
