"""Pre-processing math against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from edgecam.bundle import Normalization
from edgecam.config import ResizeMode
from edgecam.errors import ImageError
from edgecam.runtime.engine import TensorSpec
from edgecam.vision.preprocess import Preprocessor, build_lut, fit_box


def spec(dtype, scale=0.0, zp=0, shape=(1, 4, 4, 3)):
    return TensorSpec("in", shape, np.dtype(dtype), scale, zp)


def test_float_default_is_minus_one_to_one():
    lut = build_lut(spec("float32"), None, 3)
    assert lut.shape == (256,)  # same table for every channel
    assert lut[0] == pytest.approx(-1.0)
    assert lut[255] == pytest.approx(1.0)
    assert lut[51] == pytest.approx((51 - 127.5) / 127.5)


def test_quantized_defaults_feed_raw_pixels():
    assert np.array_equal(build_lut(spec("uint8", 0.0078125, 128), None, 3), np.arange(256))
    int8 = build_lut(spec("int8", 0.0078125, 0), None, 3)
    assert int8.dtype == np.int8
    assert int8[0] == -128 and int8[128] == 0 and int8[255] == 127


def test_normalization_then_quantization():
    # real = (p - 0) / 1 = p; q = round(p / 1.0 + (-128)) -> p - 128
    lut = build_lut(spec("int8", 1.0, -128), Normalization((0.0,) * 3, (1.0,) * 3), 3)
    assert lut[0] == -128 and lut[200] == 72 and lut[255] == 127
    # real = p / 255 in [0, 1]; uint8 scale 1/255 zero 0 -> q = p
    lut = build_lut(spec("uint8", 1 / 255, 0), Normalization((0.0,) * 3, (255.0,) * 3), 3)
    assert np.array_equal(lut, np.arange(256))
    # Values beyond the dtype saturate instead of wrapping.
    lut = build_lut(spec("int8", 0.5, 0), Normalization((0.0,) * 3, (1.0,) * 3), 3)
    assert lut[255] == 127 and lut[10] == 20


def test_per_channel_normalization_gives_per_channel_table():
    norm = Normalization((123.675, 116.28, 103.53), (58.395, 57.12, 57.375))  # ImageNet
    lut = build_lut(spec("float32"), norm, 3)
    assert lut.shape == (1, 256, 3)
    assert lut[0, 200, 1] == pytest.approx((200 - 116.28) / 57.12, rel=1e-6)


def test_integer_input_without_quantization_is_refused():
    with pytest.raises(ImageError, match="not quantized"):
        build_lut(spec("int8"), Normalization((0.0,), (1.0,)), 1)


def test_fit_box_crop_and_letterbox():
    # 640x480 into 224x224: crop the centre 480x480; letterbox to 224x168 at y=28.
    assert fit_box(640, 480, 224, 224, ResizeMode.CROP) == ((80, 0, 480, 480), (0, 0, 224, 224))
    assert fit_box(640, 480, 224, 224, ResizeMode.LETTERBOX) == (
        (0, 0, 640, 480),
        (0, 28, 224, 168),
    )
    assert fit_box(640, 480, 224, 224, ResizeMode.STRETCH) == ((0, 0, 640, 480), (0, 0, 224, 224))


def test_bgr_frame_becomes_rgb_tensor():
    pre = Preprocessor(spec("uint8", 1 / 255, 0), Normalization((0.0,) * 3, (255.0,) * 3))
    frame = np.zeros((8, 8, 3), np.uint8)
    frame[:] = (10, 20, 30)  # B, G, R
    tensor = pre(frame)
    assert tensor.shape == (1, 4, 4, 3)
    assert tensor[0, 0, 0].tolist() == [30, 20, 10]


def test_bgr_model_keeps_channel_order():
    pre = Preprocessor(
        spec("uint8", 1 / 255, 0), Normalization((0.0,) * 3, (255.0,) * 3), color_order="BGR"
    )
    frame = np.full((8, 8, 3), (10, 20, 30), np.uint8)
    assert pre(frame)[0, 0, 0].tolist() == [10, 20, 30]


def test_float_tensor_values():
    pre = Preprocessor(spec("float32"))
    tensor = pre(np.full((5, 7, 3), 255, np.uint8))
    assert tensor.dtype == np.float32
    assert np.allclose(tensor, 1.0)


def test_grayscale_model_and_inputs():
    pre = Preprocessor(spec("float32", shape=(1, 4, 4, 1)), Normalization((0.0,), (1.0,)))
    bgr = np.full((6, 6, 3), (255, 0, 0), np.uint8)  # pure blue: Y = 0.114 * 255 ~ 29
    assert pre(bgr)[0, 0, 0, 0] == pytest.approx(29, abs=1)
    gray = np.full((6, 6), 77, np.uint8)
    assert pre(gray)[0, 0, 0, 0] == 77
    # A grayscale image for a colour model is replicated into three channels.
    rgb_pre = Preprocessor(spec("uint8", 1 / 255, 0), Normalization((0.0,) * 3, (255.0,) * 3))
    assert rgb_pre(gray)[0, 0, 0].tolist() == [77, 77, 77]


def test_bgra_input_drops_alpha():
    pre = Preprocessor(spec("uint8", 1 / 255, 0), Normalization((0.0,) * 3, (255.0,) * 3))
    bgra = np.full((4, 4, 4), (1, 2, 3, 0), np.uint8)
    assert pre(bgra)[0, 0, 0].tolist() == [3, 2, 1]


def test_crop_keeps_the_centre():
    pre = Preprocessor(
        spec("uint8", 1 / 255, 0, shape=(1, 2, 2, 3)),
        Normalization((0.0,) * 3, (255.0,) * 3),
        resize=ResizeMode.CROP,
    )
    frame = np.zeros((4, 8, 3), np.uint8)
    frame[:, 2:6] = 255  # the centre 4x4 square is white, the sides black
    assert pre(frame).min() == 255


def test_letterbox_pads_with_black():
    pre = Preprocessor(
        spec("uint8", 1 / 255, 0, shape=(1, 8, 8, 3)),
        Normalization((0.0,) * 3, (255.0,) * 3),
        resize=ResizeMode.LETTERBOX,
    )
    tensor = pre(np.full((4, 8, 3), 255, np.uint8))  # 2:1 into 1:1 -> rows 2..5 hold the image
    assert tensor[0, 0].max() == 0 and tensor[0, 7].max() == 0
    assert tensor[0, 2:6].min() == 255


def test_buffers_are_reused_between_frames():
    pre = Preprocessor(spec("float32"))
    first = pre(np.zeros((10, 10, 3), np.uint8))
    second = pre(np.ones((20, 30, 3), np.uint8))
    assert first is second  # one tensor buffer for the classifier's lifetime


@pytest.mark.parametrize(
    "bad", [None, np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 3), np.uint8)]
)
def test_non_images_are_refused(bad):
    with pytest.raises(ImageError):
        Preprocessor(spec("float32"))(bad)


def test_sources_of_different_shapes_share_one_preprocessor():
    """The per-shape fit plan is cached; switching sources must not reuse the wrong one."""
    shared = Preprocessor(spec("uint8", 1.0, 0, shape=(1, 8, 8, 3)), resize=ResizeMode.CROP)
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 256, (48, 64, 3), np.uint8),
        rng.integers(0, 256, (30, 20), np.uint8),
        rng.integers(0, 256, (16, 16, 4), np.uint8),
        rng.integers(0, 256, (30, 20, 1), np.uint8),
    ]
    for image in images * 2:
        fresh = Preprocessor(spec("uint8", 1.0, 0, shape=(1, 8, 8, 3)), resize=ResizeMode.CROP)
        assert np.array_equal(shared(image), fresh(image))


def test_odd_channel_counts_are_refused():
    with pytest.raises(ImageError):
        Preprocessor(spec("float32"))(np.zeros((4, 4, 2), np.uint8))
