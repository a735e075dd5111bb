"""An image (a numpy array or a PIL image) as the bytes of an image file, for
`log_image`: a PNG written here when PIL is not installed, any format PIL writes when
it is."""

from __future__ import annotations

import struct
import zlib
from typing import Any

from gitml.errors import InvalidValueError

_COLOR_TYPES = {1: 0, 3: 2, 4: 6}  # channels MLflow takes → PNG colour type (grey, RGB, RGBA)


def image_bytes(image: Any, suffix: str) -> bytes:
    """The file of `image` in the format `suffix` names (".png", ".jpg", …)."""
    if hasattr(image, "save") and hasattr(image, "mode"):  # a PIL image
        return _pil_bytes(image, suffix)
    pixels = _uint8_pixels(image)
    if suffix == ".png":
        return png(pixels)
    try:
        from PIL import Image
    except ImportError:
        raise InvalidValueError(
            f"log_image writes {suffix} files with Pillow, which is not installed; name the "
            "file .png, or pip install pillow"
        ) from None
    return _pil_bytes(Image.fromarray(pixels), suffix)


def _pil_bytes(image: Any, suffix: str) -> bytes:
    import io

    formats = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF", ".bmp": "BMP"}
    buffer = io.BytesIO()
    image.save(buffer, format=formats.get(suffix, suffix.lstrip(".").upper() or "PNG"))
    return buffer.getvalue()


def _uint8_pixels(image: Any) -> Any:
    """The array as uint8 H×W×C: floats must lie in [0, 1] (scaled to 0–255), integers
    in [0, 255], as MLflow takes them."""
    try:
        import numpy as np
    except ImportError:
        raise InvalidValueError("log_image takes a numpy array or a PIL image") from None
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in _COLOR_TYPES or 0 in array.shape:
        raise InvalidValueError(
            f"log_image takes an array of shape H×W or H×W×C with C 1, 3 or 4, not {array.shape}"
        )
    if array.dtype.kind == "f":
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1 or np.isnan(array).any()):
            raise InvalidValueError("log_image: an image of floats has values in [0, 1] only")
        return (array * 255).round().astype(np.uint8)
    if array.dtype.kind in "iub":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidValueError("log_image: an image of integers has values in [0, 255] only")
        return array.astype(np.uint8)
    raise InvalidValueError(f"log_image takes numbers, not an array of {array.dtype}")


def png(pixels: Any) -> bytes:
    """A PNG file of uint8 pixels H×W×C (C 1, 3 or 4), unfiltered rows, deflated."""
    height, width, channels = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPES[channels], 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )
