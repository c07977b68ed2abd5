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


class PTDiTProbeReload(OutputNode):
    """A MODEL's patcher class and its ``cached_patcher_init`` (0.33+; "absent" on older hosts). When
    set, the factory is called as core calls it for a clone without dynamic VRAM, and the report
    holds the new patcher's class and the largest difference between the two models' weights."""

    REQUIRED = {"model": ("MODEL",)}

    def run(self, model):
        factory = getattr(model, "cached_patcher_init", "absent")
        report = {"patcher": type(model).__name__, "factory": factory if factory in ("absent", None) else "set"}
        if report["factory"] == "set":
            again = factory[0](*factory[1], disable_dynamic=True)
            before, after = model.model.state_dict(), again.model.state_dict()
            report.update(reloaded_patcher=type(again).__name__, same_keys=sorted(before) == sorted(after),
                          max_difference=max((before[k].float() - after[k].float()).abs().max().item()
                                             for k in before))
        return ui_json(report)
