"""Property photo variants: fixed-size JPEGs cropped to fill (thumbnail, medium, large), and generated placeholders
shown until a photo's variants exist.

Variants carry no metadata at all (no EXIF, ICC profile, XMP or comment). Decoding is bounded: the pixel count is
checked from the header before any pixel is decoded, with the same limit as uploads.
"""
from __future__ import annotations

import io
import warnings
from typing import Any

from flask import current_app, has_app_context
from PIL import Image, ImageDraw, ImageOps

SIZES: dict[str, tuple[int, int]] = {"thumbnail": (300, 200), "medium": (800, 600), "large": (1200, 900)}
CONTENT_TYPE = "image/jpeg"
JPEG_OPTIONS: dict[str, Any] = {"format": "JPEG", "quality": 85, "optimize": True, "progressive": True}
DEFAULT_MAX_PIXELS = 25_000_000
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_ORIENTATION_TAG = 0x0112
_PLACEHOLDERS: dict[str, bytes] = {}


def _max_pixels() -> int:
    if has_app_context():
        return int(current_app.config.get("UPLOAD_MAX_PIXELS") or DEFAULT_MAX_PIXELS)
    return DEFAULT_MAX_PIXELS


def _open_checked(data: bytes) -> Image.Image:
    """The image, opened lazily, after checking from its header that it is one and is not too large."""
    try:
        image = Image.open(io.BytesIO(bytes(data)))
    except Image.DecompressionBombError:
        raise ValueError("the image has too many pixels") from None
    except Exception:
        raise ValueError("not an image") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise ValueError("the image has no pixels")
    max_pixels = _max_pixels()
    if width * height > max_pixels:
        image.close()
        raise ValueError(f"the image has more than {max_pixels / 1_000_000:g} megapixels")
    return image


def upright_size(data: bytes) -> tuple[int, int]:
    """(width, height) of the image as shown, after its EXIF orientation; read from the header only.
    ValueError when the bytes are not an image."""
    with _open_checked(data) as image:
        width, height = image.size
        try:
            orientation = image.getexif().get(_ORIENTATION_TAG)
        except Exception:
            orientation = None
    return (height, width) if orientation in _ROTATED else (width, height)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB; transparent areas become white rather than whatever colour the hidden pixels have."""
    if image.mode in {"RGBA", "LA", "PA", "RGBa", "La"} or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    image.info = {}  # nothing of the source's metadata is written
    out = io.BytesIO()
    image.save(out, **JPEG_OPTIONS)
    return out.getvalue()


def make_variants(data: bytes) -> dict[str, bytes]:
    """For each name in SIZES, a JPEG of exactly that size: the upright image scaled to cover it and centre-cropped.
    ValueError when the bytes are not a decodable image or have too many pixels."""
    largest = max(max(size) for size in SIZES.values())
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with _open_checked(data) as image:
                # a large JPEG is decoded at a reduced scale that still covers every size in either orientation
                image.draft("RGB", (largest, largest))
                image.load()
                upright = ImageOps.exif_transpose(image)
                upright = _flatten(upright)
        except ValueError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
            raise ValueError("the image has too many pixels") from None
        except Exception:
            raise ValueError("the image is damaged or incomplete") from None
    upright.info = {}
    return {name: _jpeg(ImageOps.fit(upright, size, method=Image.Resampling.LANCZOS))
            for name, size in SIZES.items()}


def _draw_placeholder(size: tuple[int, int]) -> bytes:
    width, height = size
    image = Image.new("RGB", size, (233, 236, 239))
    draw = ImageDraw.Draw(image)
    line = (173, 181, 189)
    stroke = max(2, min(width, height) // 60)
    unit = min(width, height) * 0.5  # the house fits in half the shorter side
    cx, cy = width / 2, height / 2
    left, right = cx - unit * 0.4, cx + unit * 0.4
    eave, base, apex = cy - unit * 0.05, cy + unit * 0.45, cy - unit * 0.45
    # walls, roof, door
    draw.line([(left, eave), (left, base), (right, base), (right, eave)], fill=line, width=stroke, joint="curve")
    draw.line([(left - unit * 0.1, eave + unit * 0.05), (cx, apex), (right + unit * 0.1, eave + unit * 0.05)],
              fill=line, width=stroke, joint="curve")
    door_w, door_h = unit * 0.16, unit * 0.28
    draw.rectangle([(cx - door_w / 2, base - door_h), (cx + door_w / 2, base)], outline=line, width=stroke)
    return _jpeg(image)


def placeholder(size_name: str) -> bytes:
    """A neutral JPEG of the named size (a key of SIZES) showing a house outline; generated once per process."""
    if size_name not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size_name!r}")
    cached = _PLACEHOLDERS.get(size_name)
    if cached is None:
        cached = _PLACEHOLDERS[size_name] = _draw_placeholder(SIZES[size_name])
    return cached
