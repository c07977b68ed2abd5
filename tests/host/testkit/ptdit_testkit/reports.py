"""Output nodes that report, as JSON UI text, what the probe saw: forward calls and shapes, the
PT-DiT window options a MODEL carries, torch.compile's counters."""
import dataclasses

from .kit import OutputNode, ui_json
from .probe_model import BLOCK_PATCH_CALLS, RECORDS


class PTDiTProbeReport(OutputNode):
    """The recorded forward calls and the shapes of whatever it is given."""

    OPTIONAL = {"latent": ("LATENT",), "image": ("IMAGE",), "latent2": ("LATENT",)}

    def run(self, latent=None, image=None, latent2=None):
        return ui_json({
            "records": list(RECORDS),
            "latent_shape": list(latent["samples"].shape) if latent is not None else None,
            "latent2_shape": list(latent2["samples"].shape) if latent2 is not None else None,
            "image_shape": list(image.shape) if image is not None else None,
        })


class PTDiTProbeModelOptions(OutputNode):
    """The PT-DiT window options a MODEL carries (what the Proxy Ratio node set)."""

    REQUIRED = {"model": ("MODEL",)}

    def run(self, model):
        options = model.model_options.get("transformer_options", {}).get("ptdit")
        return ui_json(dataclasses.asdict(options) if dataclasses.is_dataclass(options) else options)


class PTDiTProbeCompileStats(OutputNode):
    """torch.compile's counters in the server process (graphs compiled, graph breaks) and the block
    patch calls so far; wired after a sampler so that it runs last."""

    REQUIRED = {"latent": ("LATENT",)}

    def run(self, latent):
        from torch._dynamo.utils import counters

        return ui_json({"graphs": counters["stats"]["unique_graphs"],
                        "graph_breaks": sum(counters["graph_break"].values()),
                        "block_patch_calls": list(BLOCK_PATCH_CALLS)})
