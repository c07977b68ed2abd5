"""The demo-data generators are deterministic by seed and the detectors read their ground truth."""
from __future__ import annotations

import numpy as np
import pytest

from scripts.demo import data
from scripts.demo import detect
from scripts.demo.evaluate import T2I_FIELDS



def _blur(image: np.ndarray) -> np.ndarray:
    """3x3 box blur per frame (edge-padded): a stand-in for the softness of VAE decodes."""
    padded = np.pad(image, [(0, 0)] * (image.ndim - 3) + [(1, 1), (1, 1), (0, 0)], mode="edge")
    h, w = image.shape[-3:-1]
    return sum(padded[..., i:i + h, j:j + w, :] for i in range(3) for j in range(3)) / 9


@pytest.mark.parametrize("sample", [data.sample_t2i, data.sample_t2v, data.sample_t2mv])
def test_generators_are_deterministic_by_seed(sample):
    a_pixels, a_prompt, a_label = sample(np.random.default_rng(7), 32)
    b_pixels, b_prompt, b_label = sample(np.random.default_rng(7), 32)
    assert a_prompt == b_prompt and a_label == b_label
    np.testing.assert_array_equal(a_pixels, b_pixels)
    others = [sample(np.random.default_rng(seed), 32)[0] for seed in range(8, 12)]
    assert any(not np.array_equal(a_pixels, o) for o in others)


def test_shapes_and_prompts():
    pixels, prompt, label = data.sample_t2i(np.random.default_rng(0), 64)
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.float32 and 0 <= pixels.min() <= pixels.max() <= 1
    assert prompt == f"a {label['colour']} {label['shape']} on a {label['background']} background, {label['position']}"
    assert len(data.t2i_labels()) == 4 * 3 * 3 * 4  # background never equals the shape's colour
    clip, prompt, label = data.sample_t2v(np.random.default_rng(0), 32, frames=9)
    assert clip.shape == (9, 32, 32, 3) and f"moving {label['direction']}" in prompt
    views, prompt, label = data.sample_t2mv(np.random.default_rng(0), 32, views=6)
    assert views.shape == (6, 32, 32, 3) and prompt.endswith("on a grey background, orbit")
    with pytest.raises(ValueError, match="1 \\+ 4k"):
        data.sample_t2v(np.random.default_rng(0), 32, frames=4)


@pytest.mark.parametrize("blur", [False, True])
def test_t2i_detector_reads_ground_truth(blur):
    rng = np.random.default_rng(1)
    samples = [data.sample_t2i(rng, 64) for _ in range(120)]
    found = [detect.detect_t2i(_blur(p) if blur else p) for p, _, _ in samples]
    rates = detect.score(found, [label for _, _, label in samples], T2I_FIELDS)
    assert rates["all"] >= 0.95, rates


def test_t2i_detector_finds_nothing_on_a_blank_image():
    blank = data.paint(64, "blue", "red", np.zeros((64, 64), bool))
    assert detect.detect_t2i(blank) == dict(background="blue", colour="none", shape="none", position="none")


def test_t2v_detector_reads_direction():
    rng = np.random.default_rng(2)
    samples = [data.sample_t2v(rng, 64, 5) for _ in range(40)]
    found = [detect.detect_t2v(_blur(p)) for p, _, _ in samples]
    assert detect.score(found, [label for _, _, label in samples], ("colour", "direction"))["all"] >= 0.95
    label = dict(colour="red", shape="circle", background="blue", direction="up")
    reverse = data.render_t2v(label, 64, 5)[::-1]  # played backwards it moves down
    assert detect.detect_t2v(reverse)["direction"] == "down"


@pytest.mark.parametrize("travel", [0.0, 0.2, data.T2V_TRAVEL])
def test_t2v_detector_measures_travel_as_a_share_of_the_side(travel):
    label = dict(colour="green", shape="square", background="red", direction="left")
    found = detect.detect_t2v(_blur(data.render_t2v(label, 64, 5, travel=travel)))
    assert found["travel"] == pytest.approx(travel, abs=1.5 / 64), found


def test_t2mv_detector_checks_consistency():
    rng = np.random.default_rng(3)
    samples = [data.sample_t2mv(rng, 64, 4) for _ in range(16)]
    found = [detect.detect_t2mv(_blur(p)) for p, _, _ in samples]
    truth = [dict(label, consistent=True) for _, _, label in samples]
    assert detect.score(found, truth, ("colour", "shape", "consistent"))["all"] >= 0.95
    cube = data.render_t2mv(dict(colour="red", shape="cube"), 64, 4)
    pyramid = data.render_t2mv(dict(colour="red", shape="pyramid"), 64, 4)
    blue = data.render_t2mv(dict(colour="blue", shape="cube"), 64, 4)
    assert not detect.detect_t2mv(np.concatenate([cube[:2], pyramid[2:]]))["consistent"]
    assert not detect.detect_t2mv(np.concatenate([cube[:2], blue[2:]]))["consistent"]
    tinted = cube.copy()  # one view's red turns orange: still nearest to red, but not one colour
    tinted[1] = np.where(detect.foreground(cube[1], np.asarray(data.GREY, np.float32))[..., None],
                         cube[1] * np.array([1.0, 1.5, 1.0], np.float32) + np.array([0, 0.1, 0], np.float32), cube[1])
    assert detect.nearest_chroma(np.median(tinted[1][detect.foreground(tinted[1], np.asarray(data.GREY))], 0)) == "red"
    assert not detect.detect_t2mv(tinted)["consistent"]
    assert detect.detect_t2mv(tinted, chroma_tolerance=1.0)["consistent"]  # it is the hue that differs


def test_score_counts_fields():
    rates = detect.score([dict(a=1, b=2), dict(a=1, b=3)], [dict(a=1, b=2), dict(a=0, b=2)], ("a", "b"))
    assert rates == dict(a=0.5, b=0.5, all=0.5)
