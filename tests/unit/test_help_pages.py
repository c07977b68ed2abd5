"""The node help pages, ``web/docs/<node type>.md``: the frontend's node help panel shows them (its
``/extensions/<pack>/docs/<node type>.md``). The host test checks them against the registered
schemas (tests/host/test_host_nodes.py), the browser test in the help panel."""
from __future__ import annotations

from pathlib import Path

from tests.host.helpers import pack_nodes

DOCS = Path(__file__).resolve().parents[2] / "web" / "docs"
SECTIONS = ["Inputs", "Outputs", "Tip"]


def help_page(node_type: str) -> str:
    return (DOCS / f"{node_type}.md").read_text(encoding="utf-8")


def section(page: str, title: str) -> str:
    """The text under ``## title`` up to the next heading."""
    return page.split(f"\n## {title}\n", 1)[1].split("\n#", 1)[0]


def test_every_node_has_a_page_and_every_page_a_node():
    assert {path.stem for path in DOCS.glob("*.md")} == pack_nodes()


def test_each_page_says_what_the_node_does_then_its_inputs_outputs_and_a_tip():
    for node_type in pack_nodes():
        page = help_page(node_type)
        assert page.startswith("# PT-DiT "), node_type
        assert [line[3:] for line in page.splitlines() if line.startswith("## ")] == SECTIONS, node_type
        assert len(page.split("\n## ")[0].split()) >= 15, f"{node_type}: no description"
        assert all(section(page, title).strip() for title in SECTIONS), node_type
