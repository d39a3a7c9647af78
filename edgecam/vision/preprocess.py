"""Frame -> input tensor: fit (stretch / crop / letterbox), colour convert, normalise, quantize.

Normalisation and quantization are folded into one 256-entry lookup table per channel, computed
once per model, so per frame the work is: one resize, one colour conversion, one ``cv2.LUT``
straight into the reused input tensor. No per-frame allocations.

Defaults for a bare ``.tflite`` with no ``model.json``:

* float input: ``(pixel - 127.5) / 127.5`` in [-1, 1], the MobileNet / TF Hub convention;
* uint8 input: raw pixels, int8 input: ``pixel - 128`` (the Coral / quantized zoo convention:
  the model's input quantization already encodes its normalisation).
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from edgecam.bundle import Normalization
from edgecam.config import ResizeMode
from edgecam.errors import ImageError
from edgecam.runtime.engine import TensorSpec

FLOAT_DEFAULT = Normalization(mean=(127.5,) * 3, std=(127.5,) * 3)


def build_lut(spec: TensorSpec, normalization: Normalization | None, channels: int) -> np.ndarray:
    """The pixel (0..255) -> tensor value table, shape (256,) or (1, 256, channels).

    Args:
        spec: the model's input tensor (dtype and quantization).
        normalization: from model.json; None for the documented defaults.
        channels: 1 or 3.
    """
    pixels = np.arange(256, dtype=np.float64)
    if normalization is None and spec.dtype.kind in "iu":
        raw = pixels if spec.dtype == np.uint8 else pixels - 128
        return raw.astype(spec.dtype)
    norm = normalization or Normalization(
        FLOAT_DEFAULT.mean[:channels], FLOAT_DEFAULT.std[:channels]
    )
    real = np.stack(
        [(pixels - m) / s for m, s in zip(norm.mean[:channels], norm.std[:channels], strict=True)],
        axis=-1,
    )
    if spec.dtype.kind == "f":
        table = real.astype(spec.dtype)
    elif spec.dtype.kind in "iu":
        if not spec.quantized:
            raise ImageError(
                f"input {spec.describe()} is integer but not quantized",
                "edgecam needs the input's scale and zero point",
            )
        info = np.iinfo(spec.dtype)
        q = np.round(real / spec.scale + spec.zero_point)
        table = np.clip(q, info.min, info.max).astype(spec.dtype)
    else:
        raise ImageError(
            f"input dtype {spec.dtype.name} is not supported",
            "edgecam runs float32, uint8 and int8 inputs",
        )
    if channels == 1 or np.all(table == table[:, :1]):
        return np.ascontiguousarray(table[:, 0])
    return np.ascontiguousarray(table.reshape(1, 256, channels))


def fit_box(src_w: int, src_h: int, dst_w: int, dst_h: int, mode: ResizeMode):
    """Where the source goes: ``(crop (x, y, w, h) in the source, paste (x, y, w, h) in dst)``."""
    if mode is ResizeMode.CROP:
        scale = min(src_w / dst_w, src_h / dst_h)
        cw, ch = max(1, round(dst_w * scale)), max(1, round(dst_h * scale))
        return ((src_w - cw) // 2, (src_h - ch) // 2, cw, ch), (0, 0, dst_w, dst_h)
    if mode is ResizeMode.LETTERBOX:
        scale = min(dst_w / src_w, dst_h / src_h)
        pw, ph = max(1, round(src_w * scale)), max(1, round(src_h * scale))
        return (0, 0, src_w, src_h), ((dst_w - pw) // 2, (dst_h - ph) // 2, pw, ph)
    return (0, 0, src_w, src_h), (0, 0, dst_w, dst_h)


class _Plan(NamedTuple):
    """How to fit one source shape into the input, worked out once per shape."""

    bgra: bool  # drop the alpha channel first
    gray_in: bool  # the source is single-channel
    rows: slice  # the region of the source that is used
    cols: slice
    paste: tuple[int, int, int, int] | None  # (x, y, w, h) in the input; None: it fills it


class Preprocessor:
    """Turns BGR (or grayscale / BGRA) uint8 images into the model's input tensor.

    The returned tensor is a buffer owned and reused by this object: copy it if you keep it.
    """

    _MAX_PLANS = 8  # a source keeps one shape; a few sources' worth is plenty

    def __init__(
        self,
        spec: TensorSpec,
        normalization: Normalization | None = None,
        resize: ResizeMode = ResizeMode.STRETCH,
        color_order: str = "RGB",
    ) -> None:
        _, self.height, self.width, self.channels = spec.shape
        self.resize = resize
        self.color_order = "GRAY" if self.channels == 1 else color_order
        self.lut = build_lut(spec, normalization, self.channels)
        self._identity = self.lut.dtype == np.uint8 and np.array_equal(self.lut, np.arange(256))
        self.tensor = np.zeros(spec.shape, dtype=spec.dtype)
        hw = (self.height, self.width)
        self._fitted3 = np.zeros((*hw, 3), np.uint8)
        self._fitted1 = np.zeros(hw, np.uint8)
        self._color = np.empty((*hw, 3), np.uint8)
        self._paste: np.ndarray | None = None  # letterbox scratch, sized for the last source
        # The tensor's single image as (H, W) or (H, W, 3): what cv2.LUT writes into.
        self._target = self.tensor[0, :, :, 0] if self.channels == 1 else self.tensor[0]
        self._plans: dict[tuple[int, ...], _Plan] = {}

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0:
            raise _not_a_picture()
        plan = self._plans.get(image.shape) or self._plan(image.shape)
        region = image[plan.rows, plan.cols]  # crop first: convert only what is used
        if plan.bgra:
            region = cv2.cvtColor(region, cv2.COLOR_BGRA2BGR)
        elif plan.gray_in and region.ndim == 3:
            region = region[:, :, 0]
        fitted = self._fit(region, plan)
        if self._identity:
            # Raw-pixel uint8 models (Coral, TF Hub, our uint8 exports): no table to apply.
            converted = self._convert(fitted, plan.gray_in, dst=self._target)
            if converted is not self._target:
                np.copyto(self._target, converted)
        else:
            cv2.LUT(self._convert(fitted, plan.gray_in), self.lut, dst=self._target)
        return self.tensor

    def _plan(self, shape: tuple[int, ...]) -> _Plan:
        """Work out (and remember) how an image of ``shape`` fits the input."""
        if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3, 4)):
            raise _not_a_picture()
        src_h, src_w = shape[:2]
        (cx, cy, cw, ch), (px, py, pw, ph) = fit_box(
            src_w, src_h, self.width, self.height, self.resize
        )
        plan = _Plan(
            bgra=len(shape) == 3 and shape[2] == 4,
            gray_in=len(shape) == 2 or shape[2] == 1,
            rows=slice(cy, cy + ch),
            cols=slice(cx, cx + cw),
            paste=None if (pw, ph) == (self.width, self.height) else (px, py, pw, ph),
        )
        if len(self._plans) >= self._MAX_PLANS:
            self._plans.clear()
        self._plans[shape] = plan
        return plan

    def _fit(self, region: np.ndarray, plan: _Plan) -> np.ndarray:
        out = self._fitted1 if plan.gray_in else self._fitted3
        if plan.paste is None:
            return cv2.resize(
                region, (self.width, self.height), dst=out, interpolation=cv2.INTER_LINEAR
            )
        px, py, pw, ph = plan.paste
        if self._paste is None or self._paste.shape[:2] != (ph, pw) or self._paste.ndim != out.ndim:
            self._paste = np.empty((ph, pw, *out.shape[2:]), np.uint8)
        cv2.resize(region, (pw, ph), dst=self._paste, interpolation=cv2.INTER_LINEAR)
        out[...] = 0
        out[py : py + ph, px : px + pw] = self._paste
        return out

    def _convert(self, fitted: np.ndarray, gray_in: bool, dst: np.ndarray | None = None):
        """Colour-convert ``fitted`` for the model (into ``dst`` when given and needed)."""
        if self.color_order == "GRAY":
            if gray_in:
                return fitted
            return cv2.cvtColor(
                fitted, cv2.COLOR_BGR2GRAY, dst=self._fitted1 if dst is None else dst
            )
        if gray_in:
            return cv2.cvtColor(fitted, cv2.COLOR_GRAY2BGR, dst=self._color if dst is None else dst)
        if self.color_order == "BGR":
            return fitted
        return cv2.cvtColor(fitted, cv2.COLOR_BGR2RGB, dst=self._color if dst is None else dst)


def _not_a_picture() -> ImageError:
    return ImageError(
        "the image is not an 8-bit picture",
        "pass a BGR/grayscale uint8 array (as cv2.imread returns)",
    )
