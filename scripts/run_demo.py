"""Run a demo workflow in a real ComfyUI with this pack and print where its image is.

    python -m scripts.run_demo [--workflow ptdit_demo_t2i] [--prompt TEXT] [--seed N] [--weight-dtype fp8_e4m3fn]
        [--out out/demo]

``scripts/demo.sh`` installs what this needs on a fresh machine and then calls it. The server runs
on 127.0.0.1 with ``--cpu`` in ``<out>/comfyui`` (models/, output/, server.log); the pack's tiny
demo models (``demo_models/``) are registered by the pack itself, so nothing is downloaded. The
prompt and seed of the workflow's sampler can be changed; the demo T2I model knows the training
wording "a {colour} {circle|square|triangle} on a {colour} background, {top|bottom} {left|right}"
(colours: red, green, blue, yellow).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.workflow_api import workflow_to_prompt  # noqa: E402
from tests.harness.client import ComfyHostError  # noqa: E402
from tests.harness.hosts import find_comfyui_dir  # noqa: E402
from tests.harness.server import ComfyHost  # noqa: E402

SAMPLER_TYPES = ("PTDiTSamplerT2I", "PTDiTSamplerT2V", "PTDiTSamplerT2MV", "KSampler")


def customise(prompt: dict, text: str | None, seed: int | None, weight_dtype: str | None = None) -> dict:
    """Set the positive prompt and the seed of every sampler, and the weight dtype of every PT-DiT
    model loader, in an API prompt (in place)."""
    for node in prompt.values():
        if node["class_type"] == "PTDiTModelLoader" and weight_dtype is not None:
            node["inputs"]["weight_dtype"] = weight_dtype
        if node["class_type"] not in SAMPLER_TYPES:
            continue
        if seed is not None:
            node["inputs"]["seed"] = seed
        if text is not None:
            encoder = prompt[node["inputs"]["positive"][0]]
            if encoder["class_type"] != "CLIPTextEncode":
                raise SystemExit(f"cannot set the prompt: the sampler's positive input is a {encoder['class_type']}")
            encoder["inputs"]["text"] = text
    return prompt


def watch(host: ComfyHost, prompt_id: str, prompt: dict, timeout: float) -> None:
    """Print each node as it starts and the sampler's step progress until the prompt finishes."""
    seen, deadline = 0, time.monotonic() + timeout
    while (host.history(prompt_id) or {}).get("status") is None:
        events = host.events(prompt_id)
        for event in events[seen:]:
            data = event["data"]
            if event["type"] == "executing" and data.get("node"):
                print(f"  running {prompt[data['node']]['class_type']} (node {data['node']})", flush=True)
            elif event["type"] == "progress" and (sys.stdout.isatty() or data["value"] == data["max"]):
                print(f"    step {data['value']}/{data['max']}", end="\r" if data["value"] < data["max"] else "\n",
                      flush=True)
        seen = len(events)
        if time.monotonic() > deadline:
            host.interrupt(prompt_id)
            raise SystemExit(f"the workflow did not finish within {timeout:.0f} s (interrupted); see {host.log_path}")
        time.sleep(0.1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.run_demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflow", default="ptdit_demo_t2i", help="a file name in workflows/ (without .json)")
    parser.add_argument("--prompt", help="replace the positive prompt")
    parser.add_argument("--seed", type=int, help="replace the sampler seed")
    parser.add_argument("--out", default=str(REPO / "out" / "demo"), help="ComfyUI base directory parent")
    parser.add_argument("--weight-dtype", help="PT-DiT Model Loader weight dtype (e.g. fp8_e4m3fn)")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)

    start = time.monotonic()
    workflow_path = REPO / "workflows" / f"{args.workflow}.json"
    if not workflow_path.is_file():
        names = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
        raise SystemExit(f"no workflow {args.workflow!r}; choose one of: {', '.join(names)}")
    comfy_dir = find_comfyui_dir()
    if comfy_dir is None:
        raise SystemExit("no ComfyUI found: run scripts/demo.sh (it prepares one) or set COMFYUI_PATH")
    base = Path(args.out).resolve() / "comfyui"
    print(f"starting ComfyUI ({comfy_dir}) with the PT-DiT pack, base directory {base}", flush=True)
    with ComfyHost(comfy_dir, base_dir=base) as host:
        print(f"ComfyUI is up at {host.url} after {host.startup_seconds:.0f} s; running {workflow_path.name}",
              flush=True)
        prompt = customise(workflow_to_prompt(json.loads(workflow_path.read_text()), host.object_info()),
                           args.prompt, args.seed, args.weight_dtype)
        try:
            prompt_id = host.queue_prompt(prompt)
        except Exception as error:  # a rejected prompt: show ComfyUI's own message
            raise SystemExit(f"ComfyUI rejected the workflow: {error}")
        watch(host, prompt_id, prompt, args.timeout)
        result = host.wait(prompt_id, timeout=60)
        if not result.ok:
            raise SystemExit(f"the workflow failed:\n{result.describe()}\nserver log: {host.log_path}")
        files = [f.resolve() for f in host.output_files(result)]
    if not files:
        raise SystemExit("the workflow finished without saving an image")
    print(f"done in {time.monotonic() - start:.0f} s (including ComfyUI start-up)")
    for f in files:
        print(f"image: {f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ComfyHostError as error:
        sys.exit(f"ComfyUI could not run: {error}")
