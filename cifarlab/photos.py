"""Your own photos: any JPEG or PNG made a 32x32 CIFAR-like image, and predicted."""

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from cifarlab import _checks
from cifarlab._files import atomic_write
from cifarlab.evaluate import predict_probabilities

__all__ = ["CROPS", "RESAMPLING", "load_image", "load_images", "make_sample_photo",
           "predict_images"]

CROPS = ("center", None)  # the largest centred square, or squash the whole photo
RESAMPLING = ("box", "lanczos", "bicubic", "bilinear", "nearest")  # Pillow filters


def _open(path: Path):
    if not path.exists():
        web = str(path).startswith(("http:", "https:"))
        raise FileNotFoundError(f"Image file not found: '{path}' (full path: '{path.absolute()}')."
                                + (" Download it first: photos are read from local files only."
                                   if web else ""))
    if not path.is_file():
        raise ValueError(f"'{path}' is a folder, not an image file.")
    try:
        with Image.open(path) as img:
            img.load()  # an animation gives its first frame
            return img
    except Image.DecompressionBombError as err:  # e.g. 20000 x 20000: refused unread
        raise ValueError(f"'{path}' is too large to read as a photo ({err}): resize it.") from None
    except UnidentifiedImageError:
        raise ValueError(f"'{path}' is not an image PIL can read (JPEG, PNG, GIF, BMP, WebP, "
                         "TIFF, ...).") from None
    except OSError as err:
        raise ValueError(f"'{path}' could not be decoded (truncated or corrupt?): {err}") from None


def _from_array(array: np.ndarray):
    """(H, W), (H, W, 1/3/4), uint8 or float in [0, 1], as a PIL image."""
    array = array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
    if array.ndim not in (2, 3) or array.shape[2:] not in ((), (3,), (4,)) or not array.size:
        raise ValueError("An image array must be non-empty, of shape (height, width) or (height, "
                         f"width, 1, 3 or 4 channels). Received shape {array.shape}.")
    if array.dtype != np.uint8 and array.dtype.kind != "f":
        raise TypeError("An image array must be uint8 (0..255) or float in [0, 1]. Received dtype "
                        f"{array.dtype} (if its values are 0..255, use .astype(np.uint8)).")
    if array.dtype != np.uint8:
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise ValueError(f"A float image array must lie in [0, 1]. Received values from "
                             f"{np.nanmin(array):g} to {np.nanmax(array):g}: pass uint8 0..255 "
                             "images as uint8, or divide by 255.")
        array = np.rint(array * 255).astype(np.uint8)
    return Image.fromarray(np.ascontiguousarray(array))


def _to_rgb(img):
    """Upright (EXIF), 16-bit rescaled (not clipped), transparency on white, then RGB."""
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I") or img.mode == "F":  # "I" is usually a 16-bit PNG
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        top = (1.0 if a.max() <= 1 else 255.0) if img.mode == "F" else top
        img = Image.fromarray(np.clip(np.rint(a / top * 255), 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
    return img.convert("RGB")


def load_image(source, *, crop: str | None = "center", resample: str = "box") -> np.ndarray:
    """A file, PIL image or array as a 32x32 RGB ``uint8`` image, prepared like CIFAR's:
    upright (phone EXIF), RGB (transparency on white), square (``crop="center"``; ``None``
    squashes), resized with Pillow's ``BOX`` average (``"nearest"`` aliases, like
    ``keras.utils.load_img``). Example: ``load_image("my_fox.jpg").shape == (32, 32, 3)``."""
    if crop not in CROPS:
        raise ValueError(f"Unknown crop {crop!r}.{_checks.did_you_mean(crop, ['center'])} Valid: "
                         "'center' (keep the centred square) or None (squash the whole photo).")
    _checks.one_of("resample", resample, RESAMPLING)
    if isinstance(source, (str, os.PathLike)):
        img = _open(Path(source))
    elif isinstance(source, (Image.Image, np.ndarray)):
        img = source if isinstance(source, Image.Image) else _from_array(source)
    else:
        raise TypeError("An image must be a file path, a PIL image or a NumPy array. "
                        f"Received: {type(source).__name__}.")
    img = _to_rgb(img)
    (w, h), side = img.size, min(img.size)
    box = ((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2) if crop else None
    img = img.resize((32, 32), getattr(Image.Resampling, resample.upper()), box=box)  # 32x32: kept
    return np.asarray(img, dtype=np.uint8).copy()


def _items(images) -> list:
    if isinstance(images, (str, os.PathLike, Image.Image)) or getattr(images, "ndim", 4) != 4:
        return [images]
    if not hasattr(images, "__iter__"):
        raise TypeError("`images` must be a file path, a PIL image, an array, or a list of them. "
                        f"Received: {type(images).__name__}.")
    if not (items := list(images)):
        raise ValueError("`images` is empty: give at least one file, PIL image or array.")
    return items


def load_images(images, *, crop: str | None = "center", resample: str = "box") -> np.ndarray:
    """Several images (or an (N, H, W, C) array) with :func:`load_image`, as (N, 32, 32, 3)."""
    return np.stack([load_image(item, crop=crop, resample=resample) for item in _items(images)])


def predict_images(model, images, class_names: Sequence[str], *, top_k: int = 3,
                   crop: str | None = "center", resample: str = "box", batch_size: int = 256,
                   synthetic: bool = False) -> pd.DataFrame:
    """The model's top-k classes for your own images (prepared by :func:`load_image`), one
    row per image: ``source`` (the path, ``array #i`` or ``image #i``), ``name_1``,
    ``prob_1``, ..., most probable first. ``synthetic``: the table says SYNTHETIC model."""
    top_k = _checks.integer("top_k", top_k, minimum=None)
    items = _items(images)
    p = predict_probabilities(model, load_images(items, crop=crop, resample=resample),
                              class_names, batch_size=batch_size)
    if not 1 <= top_k <= p.shape[1]:
        raise ValueError(f"Expected `top_k` in 1..{p.shape[1]}. Received: top_k={top_k}.")
    order = np.argsort(-p, axis=1, kind="stable")[:, :top_k]
    frame = pd.DataFrame({"source": [
        str(it) if isinstance(it, (str, os.PathLike)) else f"array #{i}"
        if isinstance(it, np.ndarray) else getattr(it, "filename", "") or f"image #{i}"
        for i, it in enumerate(items)]})
    for r in range(top_k):
        frame[f"name_{r + 1}"] = np.array(class_names, dtype=object)[order[:, r]]
        frame[f"prob_{r + 1}"] = p[np.arange(len(p)), order[:, r]]
    frame.attrs["synthetic"] = bool(synthetic)
    frame.columns.name = "SYNTHETIC model" if synthetic else None
    return frame


def make_sample_photo(path: str | os.PathLike, *, size: tuple[int, int] = (320, 240)) -> Path:
    """Draw a wide cartoon "photo" (a fox in a meadow) as a PNG, for students without one.
    An existing file is returned as it is, never replaced. ``size``: (width, height) >= 32."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"`path` must be a file name, not a folder. Received: path={str(path)!r}.")
    if not (isinstance(size, (tuple, list)) and len(size) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 32 for v in size)):
        raise ValueError(f"`size` must be (width, height), two integers >= 32. Received: "
                         f"size={size!r}.")
    if path.exists():
        return path
    w, h = size
    img = Image.new("RGB", (w, h), (135, 190, 235))  # sky
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, int(h * 0.62), w, h], fill=(90, 160, 70))  # meadow, then a fox
    cx, cy, r, fur = w // 2, int(h * 0.58), h // 9, (205, 110, 45)
    draw.ellipse([cx - w // 6, cy - r, cx + w // 8, cy + r], fill=fur)  # body
    draw.ellipse([cx + w // 7 - r, cy - h // 7 - r, cx + w // 7 + r, cy - h // 7 + r], fill=fur)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(buffer := io.BytesIO(), format="PNG")
    return atomic_write(path, buffer.getvalue())
