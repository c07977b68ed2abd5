"""Test-only V3 extension: exported through ``comfy_entrypoint()`` only (no ``NODE_CLASS_MAPPINGS``,
which ComfyUI would read first). Imported by ComfyUI only; nothing here is shipped."""
from comfy_api.latest import ComfyExtension, io


class PTDiTTestV3Entry(io.ComfyNode):
    """Echoes ``text`` upper-cased."""

    @classmethod
    def define_schema(cls):
        return io.Schema(node_id="PTDiTTestV3Entry", display_name="PTDiT test: V3 via comfy_entrypoint",
                         category="ptdit_testkit", is_output_node=True,
                         inputs=[io.String.Input("text", default="hi", tooltip="echoed back")],
                         outputs=[io.String.Output()])

    @classmethod
    def execute(cls, text):
        return io.NodeOutput(text.upper(), ui={"text": [text.upper()]})


class _Extension(ComfyExtension):
    async def get_node_list(self):
        return [PTDiTTestV3Entry]


async def comfy_entrypoint():
    return _Extension()
