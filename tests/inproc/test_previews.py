"""Latent-preview colours, in process: factors fitted once per VAE file and cached (by content hash)
in ComfyUI's user folder, a broken cache never failing a load, and PT-DiT VAE Previews giving one
MODEL clone its VAE's colours while every other MODEL keeps the default. Decodes are counted to
tell a fit from a cache hit."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil

import pytest
import torch

from ptdit.vae.preview import fit_preview_factors
from tests.inproc.test_model_loader import model_file  # noqa: F401 (fixture: a tiny PT-DiT file)
from tests.unit.vae_tiny import one_thread, write_vae_file  # noqa: F401 (autouse fixture)

torch.set_grad_enabled(False)


@pytest.fixture(scope="module")
def pack(comfy_inproc):
    return comfy_inproc.pack


def restart(pack) -> None:
    """What a restart forgets: the session's digests and factors (the cache file stays)."""
    module = pack("nodes.preview_cache")
    module._digests.clear()
    module._fitted.clear()


@pytest.fixture
def user_dir(tmp_path, pack):
    """A fresh ComfyUI user folder and a fresh session memory (as after a restart)."""
    import folder_paths

    before = folder_paths.get_user_directory()
    folder_paths.set_user_directory(str(tmp_path / "user"))
    restart(pack)
    yield tmp_path / "user"
    folder_paths.set_user_directory(before)
    restart(pack)


@pytest.fixture
def decodes(pack, monkeypatch):
    """Every CausalVAE decode while the test runs (the fit is one decode of 4 latents of 8x8)."""
    cls = pack("ptdit.vae.model").CausalVAE
    original, calls = cls.decode, []

    def counting(self, z, *args, **kwargs):
        calls.append(tuple(z.shape))
        return original(self, z, *args, **kwargs)

    monkeypatch.setattr(cls, "decode", counting)
    return calls


@pytest.fixture(scope="module")
def vae_files(tmp_path_factory):
    """Two tiny VAE files with different weights: name -> (path, the model as saved)."""
    folder = tmp_path_factory.mktemp("vaes")
    return {name: (folder / f"{name}.safetensors", write_vae_file(folder / f"{name}.safetensors", seed=seed))
            for name, seed in (("a", 0), ("b", 1))}


def load(pack, path):
    return pack("nodes.vae").load_ptdit_vae(str(path))


def cache_entries(user_dir) -> dict:
    data = json.loads((user_dir / "__ptdit" / "preview_factors.json").read_text())
    assert data["version"] == 1
    return data["vae"]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fitted_once_per_file_then_read_from_the_cache(pack, user_dir, decodes, vae_files):
    path, model = vae_files["a"]
    vae = load(pack, path)
    assert decodes == [(4, 4, 1, 8, 8)]  # the fit: one decode of 4 latents of 8x8
    factors, bias = fit_preview_factors(model)  # the fit of the model as saved, float32
    torch.testing.assert_close(torch.tensor(vae.preview_factors.factors), torch.tensor(factors), atol=1e-6, rtol=0)
    torch.testing.assert_close(torch.tensor(vae.preview_factors.bias), torch.tensor(bias), atol=1e-6, rtol=0)
    entry = cache_entries(user_dir)[sha256(path)]
    assert entry["file"] == "a.safetensors" and entry["factors"] == [list(r) for r in vae.preview_factors.factors]

    assert load(pack, path).preview_factors == vae.preview_factors and len(decodes) == 1  # same session
    restart(pack)  # a restart: only the cache file is left
    assert load(pack, path).preview_factors == vae.preview_factors and len(decodes) == 1


def test_different_files_have_different_keys_and_a_copy_shares_its_entry(pack, user_dir, decodes, vae_files,
                                                                         tmp_path):
    a, b = (load(pack, vae_files[name][0]) for name in ("a", "b"))
    assert len(decodes) == 2
    assert a.preview_factors.digest != b.preview_factors.digest
    assert a.preview_factors.factors != b.preview_factors.factors
    assert set(cache_entries(user_dir)) == {sha256(vae_files[n][0]) for n in ("a", "b")}
    copy = tmp_path / "renamed.safetensors"
    shutil.copyfile(vae_files["a"][0], copy)
    assert load(pack, copy).preview_factors == a.preview_factors and len(decodes) == 2  # same bytes, same key


def test_a_file_changed_in_place_is_refitted(pack, user_dir, decodes, tmp_path):
    path = tmp_path / "vae.safetensors"
    write_vae_file(path, seed=0)
    first = load(pack, path).preview_factors
    write_vae_file(path, seed=1)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    second = load(pack, path).preview_factors
    assert len(decodes) == 2 and second.digest == sha256(path) != first.digest
    assert set(cache_entries(user_dir)) == {first.digest, second.digest}


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"version": 0, "vae": {}}', "\udcff"],
                         ids=["garbage", "not-an-object", "other-version", "not-utf8"])
def test_a_corrupt_cache_is_refitted_and_rewritten(pack, user_dir, decodes, vae_files, caplog, content):
    cache = user_dir / "__ptdit" / "preview_factors.json"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(content.encode("utf-8", "surrogateescape"))
    path = vae_files["a"][0]
    with caplog.at_level(logging.WARNING):
        vae = load(pack, path)
    assert len(decodes) == 1 and vae.preview_factors is not None
    assert "ignoring the preview-factor cache" in caplog.text
    assert set(cache_entries(user_dir)) == {sha256(path)}  # replaced by a valid cache


@pytest.mark.parametrize("entry", [{"factors": [[0.1, 0.2, 0.3]] * 3, "bias": [0, 0, 0]},
                                   {"factors": [[0.1, 0.2, float("nan")]] * 4, "bias": [0, 0, 0]},
                                   {"factors": [[0.1, 0.2, 0.3]] * 4, "bias": "red"}],
                         ids=["three-rows", "nan", "bad-bias"])
def test_a_malformed_entry_is_refitted(pack, user_dir, decodes, vae_files, entry):
    path = vae_files["a"][0]
    cache = user_dir / "__ptdit" / "preview_factors.json"
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"version": 1, "vae": {sha256(path): entry}}))
    vae = load(pack, path)
    assert len(decodes) == 1 and len(vae.preview_factors.factors) == 4
    assert cache_entries(user_dir)[sha256(path)]["factors"] == [list(r) for r in vae.preview_factors.factors]


def test_an_unwritable_cache_folder_only_costs_a_refit(pack, user_dir, decodes, vae_files, caplog):
    user_dir.mkdir()
    (user_dir / "__ptdit").write_text("a file where the cache folder should be")
    path = vae_files["a"][0]
    with caplog.at_level(logging.WARNING):
        vae = load(pack, path)
    assert vae.preview_factors is not None and "cannot write the preview-factor cache" in caplog.text
    assert load(pack, path).preview_factors == vae.preview_factors and len(decodes) == 1  # session memory
    restart(pack)
    load(pack, path)
    assert len(decodes) == 2


def test_a_failed_fit_loads_the_vae_with_the_default(pack, user_dir, vae_files, monkeypatch):
    def fails(vae):
        raise ValueError("the VAE decodes to non-finite pixels (NaN or inf)")

    monkeypatch.setattr(pack("nodes.vae"), "fit_preview_factors", fails)
    vae = load(pack, vae_files["a"][0])
    assert vae.preview_factors is None
    assert not (user_dir / "__ptdit" / "preview_factors.json").exists()


@pytest.fixture
def ptdit_model(pack, model_file):  # noqa: F811 (the fixture imported above)
    return pack("nodes.model_loader").load_ptdit_model(model_file)


def rgb_factors(latent_format):
    return latent_format.latent_rgb_factors, latent_format.latent_rgb_factors_bias


def test_default_factors_before_any_vae_is_loaded(pack, ptdit_model):
    previews, comfy_model = pack("nodes.previews"), pack("nodes.comfy_model")
    cls = comfy_model.PTDiTLatentFormat
    assert len(cls.latent_rgb_factors) == 4 and all(len(row) == 3 for row in cls.latent_rgb_factors)
    own = ptdit_model.model.latent_format  # built by core's model constructor
    assert isinstance(own, cls) and rgb_factors(own) == rgb_factors(cls)
    assert previews.preview_latent_format(ptdit_model) is own


def test_vae_previews_give_one_clone_the_vae_colours(pack, user_dir, ptdit_model, vae_files):
    previews, cls = pack("nodes.previews"), pack("nodes.comfy_model").PTDiTLatentFormat
    default = rgb_factors(cls)
    vae_a, vae_b = (load(pack, vae_files[name][0]) for name in ("a", "b"))
    linked = previews.PTDiTVAEPreviews.execute(ptdit_model, vae_a).args[0]
    other = previews.PTDiTVAEPreviews.execute(ptdit_model, vae_b).args[0]
    fitted = ([list(r) for r in vae_a.preview_factors.factors], list(vae_a.preview_factors.bias))
    assert rgb_factors(previews.preview_latent_format(linked)) == fitted
    assert rgb_factors(previews.preview_latent_format(other)) != fitted
    assert rgb_factors(previews.preview_latent_format(linked.clone())) == fitted  # later clones keep them
    # The input MODEL, the checkpoint's shared latent format (what core's KSampler reads) and the class stay.
    assert linked is not ptdit_model and rgb_factors(previews.preview_latent_format(ptdit_model)) == default
    assert linked.model.latent_format is ptdit_model.model.latent_format
    assert rgb_factors(ptdit_model.model.latent_format) == default and rgb_factors(cls) == default


def test_preview_images_use_the_linked_factors(pack, user_dir, ptdit_model, vae_files, monkeypatch):
    import comfy.utils
    import latent_preview

    monkeypatch.setattr(latent_preview.args, "preview_method", latent_preview.LatentPreviewMethod.Latent2RGB)
    images = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview=None, node_id=None: images.append(preview))
    try:
        previews = pack("nodes.previews")
        linked = previews.PTDiTVAEPreviews.execute(ptdit_model, load(pack, vae_files["a"][0])).args[0]
        x0 = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
        for model in (ptdit_model, linked, ptdit_model):
            previews.preview_callback(model, 1)(0, x0, x0, 1)
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
    default, vae_colours, default_again = (image[1].tobytes() for image in images)  # (format, PIL image, size)
    assert default != vae_colours and default_again == default


def test_vae_previews_need_a_ptdit_vae(pack, ptdit_model):
    import comfy.sd

    with pytest.raises(ValueError, match="needs a VAE from the PT-DiT VAE Loader, got VAE"):
        pack("nodes.previews").PTDiTVAEPreviews.execute(ptdit_model, comfy.sd.VAE(sd={}))
