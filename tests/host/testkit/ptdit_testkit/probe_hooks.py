"""Core hooks set on a MODEL the way stock nodes set them: an attention override
(``ModelPatcher.set_model_optimized_attention`` where the host has it, else the
``transformer_options`` key it writes) and a ``DIFFUSION_MODEL`` wrapper, each counting its calls."""
import comfy.ldm.modules.attention
import comfy.patcher_extension

from .kit import OutputNode, TestkitNode, ui_json

HOOK_CALLS = {"attention": [], "wrapper": 0}  # attention: (block_index, total_blocks, query tokens) per call


class PTDiTProbeCoreHooks(TestkitNode):
    """A clone of the MODEL with a counting attention override and DIFFUSION_MODEL wrapper; clears the counts."""

    REQUIRED = {"model": ("MODEL",)}
    RETURN_TYPES = ("MODEL",)

    def run(self, model):
        HOOK_CALLS["attention"].clear()
        HOOK_CALLS["wrapper"] = 0

        def attention(q, k, v, heads, **kwargs):  # stands in for the selected attention function
            options = kwargs.get("transformer_options", {})
            HOOK_CALLS["attention"].append((options.get("block_index"), options.get("total_blocks"), q.shape[2]))
            return comfy.ldm.modules.attention.attention_pytorch(q, k, v, heads, **kwargs)

        def wrapper(executor, *args, **kwargs):
            HOOK_CALLS["wrapper"] += 1
            return executor(*args, **kwargs)

        m = model.clone()
        if hasattr(m, "set_model_optimized_attention"):
            m.set_model_optimized_attention(attention)
        else:  # 0.3.75: no setter, but its attention functions read the key the setter writes
            m.model_options["transformer_options"]["optimized_attention_override"] = \
                lambda selected, *args, **kwargs: attention(*args, **kwargs)
        m.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.DIFFUSION_MODEL, "ptdit_probe", wrapper)
        return (m,)


class PTDiTProbeCoreHooksReport(OutputNode):
    """The hook calls so far; wired after a sampler so that it runs last."""

    REQUIRED = {"latent": ("LATENT",)}

    def run(self, latent):
        return ui_json({"attention": HOOK_CALLS["attention"], "wrapper": HOOK_CALLS["wrapper"]})
