"""cifarlab.photos: any photo made a CIFAR-like image, and predicted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

keras = pytest.importorskip("keras")

from cifarlab.data import scale_images  # noqa: E402
from cifarlab.photos import (  # noqa: E402
    load_image,
    load_images,
    make_sample_photo,
    predict_images,
)

RGB = ("red", "green", "blue")


@pytest.fixture(scope="module")
def colour_model():
    """Mean colour -> Dense -> softmax: three outputs."""
    inputs = keras.Input((32, 32, 3))
    dense = keras.layers.Dense(3, activation="softmax")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(inputs)))
    dense.set_weights([np.eye(3, dtype=np.float32) * 4, np.zeros(3, np.float32)])
    return model


@pytest.fixture(scope="module")
def trained():
    """A small seeded CNN with 5 outputs (predictions need no training)."""
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )


# --------------------------------------------------------------------------- own photos


def _gradient(w: int, h: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), (xx + yy) % 256], -1)


@pytest.fixture(scope="module")
def photo_files(tmp_path_factory):
    """Student photos of every common kind, written with PIL."""
    from PIL import Image

    d = tmp_path_factory.mktemp("photos")
    rgb = Image.fromarray(_gradient(500, 300).astype(np.uint8))
    files = {
        "rgb.jpg": rgb,
        "gray.png": rgb.convert("L").resize((40, 60)),
        "rgba.png": rgb.convert("RGBA"),
        "palette.png": rgb.convert("P", palette=Image.Palette.ADAPTIVE),
        "bw.png": rgb.convert("1"),
        "cmyk.jpg": rgb.convert("CMYK"),
        "tiny.png": rgb.resize((10, 7)),
        "sixteen.png": Image.fromarray((_gradient(64, 64)[..., 0] * 257).astype(np.uint16)),
    }
    for name, img in files.items():
        img.save(d / name)
    return {name: d / name for name in files}


def test_load_image_handles_every_kind_of_photo(photo_files):
    for path in photo_files.values():
        small = load_image(path)
        assert small.shape == (32, 32, 3) and small.dtype == np.uint8, path
    gray = load_image(photo_files["gray.png"])
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


def test_sixteen_bit_is_rescaled_not_clipped(tmp_path):
    from PIL import Image

    values = np.array([[0, 257 * 100], [65535, 257 * 200]], dtype=np.uint16)
    path = tmp_path / "depth.png"
    Image.fromarray(values.repeat(16, 0).repeat(16, 1)).save(path)
    assert Image.open(path).mode.startswith("I")
    small = load_image(path)
    np.testing.assert_array_equal(small[[0, 0, 31, 31], [0, 31, 0, 31], 0], [0, 100, 255, 200])


def test_transparency_is_composited_on_white(tmp_path):
    from PIL import Image

    rgba = np.zeros((64, 64, 4), dtype=np.uint8)  # invisible black everywhere
    rgba[:32, :, :] = (255, 0, 0, 255)  # opaque red top half
    path = tmp_path / "cutout.png"
    Image.fromarray(rgba, "RGBA").save(path)
    small = load_image(path)
    np.testing.assert_array_equal(small[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(small[-1, -1], [255, 255, 255])
    half = np.zeros((8, 8, 4), dtype=np.uint8)
    half[...] = (255, 0, 0, 128)
    np.testing.assert_allclose(load_image(half)[0, 0], [255, 127, 127], atol=1)


def test_palette_transparency_and_animation(tmp_path):
    from PIL import Image

    indices = np.zeros((16, 16), dtype=np.uint8)
    indices[:8] = 1  # top half: colour 1 (blue); bottom half: colour 0, transparent
    img = Image.fromarray(indices, "P")
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    path = tmp_path / "sticker.png"
    img.save(path, transparency=0)
    small = load_image(path)
    assert small[0, 0].tolist() == [0, 0, 255] and small[-1, -1].tolist() == [255, 255, 255]
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    gif = tmp_path / "blink.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    assert load_image(gif)[5, 5].tolist() == [255, 0, 0]  # the first frame


def test_phone_rotation_is_applied(tmp_path):
    from PIL import Image

    stored = np.zeros((32, 64, 3), dtype=np.uint8)  # wide: red left, blue right
    stored[:, :32] = (255, 0, 0)
    stored[:, 32:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "phone.png"
    Image.fromarray(stored).save(path, exif=exif)
    small = load_image(path)  # upright: tall, red on top, blue below
    assert small[2, 16].tolist() == [255, 0, 0]
    assert small[29, 16].tolist() == [0, 0, 255]


def test_center_crop_keeps_aspect_ratio_and_none_squashes():
    wide = np.zeros((32, 96, 3), dtype=np.uint8)
    wide[:, :32] = (0, 255, 0)
    wide[:, 32:64] = (255, 0, 0)
    wide[:, 64:] = (0, 0, 255)
    assert (load_image(wide) == [255, 0, 0]).all()  # only the centre square
    squashed = load_image(wide, crop=None)
    assert squashed[5, 2].tolist() == [0, 255, 0] and squashed[5, 29].tolist() == [0, 0, 255]


def test_box_filter_does_not_alias():
    checker = ((np.indices((320, 320)).sum(axis=0) % 2) * 255).astype(np.uint8)
    box = load_image(checker)
    assert np.abs(box.astype(int) - 128).max() <= 1  # each 10x10 block averages to grey
    nearest = load_image(checker, resample="nearest")
    assert set(np.unique(nearest)) <= {0, 255}  # one pixel in a hundred: aliasing


def test_arrays_take_the_same_path(superclass_data, photo_files):
    cifar = superclass_data.x_test[0]
    np.testing.assert_array_equal(load_image(cifar), cifar)  # already 32x32: unchanged
    np.testing.assert_array_equal(load_image(scale_images(cifar)), cifar)
    np.testing.assert_array_equal(load_image(cifar[..., :1]), np.repeat(cifar[..., :1], 3, -1))
    from PIL import Image

    with Image.open(photo_files["rgb.jpg"]) as img:
        np.testing.assert_array_equal(load_image(np.asarray(img)), load_image(img))
    batch = load_images(superclass_data.x_test[:3])
    np.testing.assert_array_equal(batch, superclass_data.x_test[:3])


def test_predict_images_top_k(trained, superclass_data, photo_files):
    names = superclass_data.class_names
    sources = [*photo_files.values(), superclass_data.x_test[0]]
    table = predict_images(trained, sources, names, top_k=3, synthetic=True)
    assert isinstance(table, pd.DataFrame) and len(table) == len(sources)
    assert list(table.columns) == [
        "source", "name_1", "prob_1", "name_2", "prob_2", "name_3", "prob_3",
    ]  # fmt: skip
    assert table["source"].tolist() == [
        *map(str, photo_files.values()),
        f"array #{len(photo_files)}",
    ]
    probs = table[["prob_1", "prob_2", "prob_3"]].to_numpy()
    assert (np.diff(probs, axis=1) <= 0).all() and (probs >= 0).all() and (probs <= 1).all()
    top = table[["name_1", "name_2", "name_3"]].to_numpy()
    assert set(top.ravel()) <= set(names) and all(len(set(row)) == 3 for row in top)
    p = trained.predict(scale_images(load_images(sources)), verbose=0)
    np.testing.assert_allclose(table["prob_1"], p.max(axis=1), rtol=1e-5)
    assert table["name_1"].tolist() == [names[i] for i in p.argmax(axis=1)]
    assert table.attrs["synthetic"] and "SYNTHETIC" in table.to_string()
    one = predict_images(trained, photo_files["rgb.jpg"], names, top_k=5)
    assert one.shape == (1, 11) and one.filter(like="prob_").sum(axis=1).iloc[0] == pytest.approx(1)
    assert "SYNTHETIC" not in one.to_string()


def test_missing_and_unreadable_files(tmp_path, colour_model):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        predict_images(colour_model, [missing], RGB)
    text = tmp_path / "x.jpg"
    text.write_text("this is not a picture")
    with pytest.raises(ValueError, match=r"x\.jpg' is not an image PIL can read"):
        load_image(text)
    with pytest.raises(ValueError, match="is a folder"):
        load_image(tmp_path)
    good = tmp_path / "cut.png"
    from PIL import Image

    Image.fromarray(_gradient(200, 200).astype(np.uint8)).save(good)
    truncated = tmp_path / "truncated.png"
    raw = good.read_bytes()
    truncated.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated.png' could not be decoded"):
        load_image(truncated)


def test_a_decompression_bomb_is_refused_unread(tmp_path):
    """issue 14: a PNG whose header says 20000 x 20000 (400 MP) gives a named ValueError."""
    import io
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, format="PNG")
    raw = bytearray(buffer.getvalue())
    raw[16:24] = struct.pack(">II", 20_000, 20_000)  # IHDR width, height, then its CRC
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))
    (bomb := tmp_path / "bomb.png").write_bytes(raw)
    with pytest.raises(ValueError, match=r"bomb\.png' is too large to read as a photo .*400000000"):
        load_image(bomb)
    assert bomb.read_bytes() == raw


@pytest.mark.parametrize(
    ("images", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "empty"),
        ([np.zeros((8, 8, 3), np.uint8)], {"top_k": 0}, ValueError, r"1\.\.3.*top_k=0"),
        ([np.zeros((8, 8, 3), np.uint8)], {"top_k": 4}, ValueError, r"1\.\.3.*top_k=4"),
        ([np.zeros((8, 8, 3), np.uint8)], {"top_k": 1.5}, TypeError, "top_k"),
        ([np.zeros((8, 8, 3), np.uint8)], {"top_k": True}, TypeError, "top_k"),
        ([np.zeros((8, 8, 2), np.uint8)], {}, ValueError, r"\(8, 8, 2\)"),
        ([np.zeros(10, np.uint8)], {}, ValueError, r"\(10,\)"),
        ([np.zeros((0, 8, 3), np.uint8)], {}, ValueError, "empty"),
        (np.zeros((1, 2, 8, 8, 3), np.uint8), {}, ValueError, r"\(1, 2, 8, 8, 3\)"),
        ([np.zeros((8, 8, 3), np.int64)], {}, TypeError, "int64.*astype"),
        ([np.full((8, 8, 3), 200.0)], {}, ValueError, r"\[0, 1\].*200"),
        ([np.zeros((8, 8, 3), np.uint8)], {"crop": "centre"}, ValueError, "Did you mean 'center'"),
        ([np.zeros((8, 8, 3), np.uint8)], {"resample": "lanczoz"}, ValueError, "mean 'lanczos'"),
        ([5], {}, TypeError, "file path, a PIL image or a NumPy array"),
        (5, {}, TypeError, "images"),
    ],
)  # fmt: skip
def test_predict_images_rejects_bad_input(colour_model, images, kwargs, error, match):
    with pytest.raises(error, match=match):
        predict_images(colour_model, images, RGB, **kwargs)


def test_predict_images_checks_class_names(colour_model):
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="4 names but the model outputs 3"):
        predict_images(colour_model, image, RGB + ("pink",))
    with pytest.raises(ValueError, match="unique"):
        predict_images(colour_model, image, ("red", "red", "blue"))


# --------------------------------------------------------------------------- sample photo


def test_sample_photo(tmp_path):
    from PIL import Image

    photo = make_sample_photo(tmp_path / "sub" / "sample.png")
    with Image.open(photo) as img:
        assert img.size == (320, 240) and img.mode == "RGB"
    small = load_image(photo)
    assert small.shape == (32, 32, 3) and small.std() > 10  # a picture, not a blank
    assert sorted(p.name for p in photo.parent.iterdir()) == ["sample.png"]  # no temporary
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"a student's own photo")
    assert make_sample_photo(mine) == mine
    assert mine.read_bytes() == b"a student's own photo"  # never replaced


def test_sample_photo_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"`size` must be \(width, height\).*size=\(10, 10\)"):
        make_sample_photo(tmp_path / "x.png", size=(10, 10))
    with pytest.raises(ValueError, match="must be a file name, not a folder"):
        make_sample_photo(tmp_path)
    assert list(tmp_path.iterdir()) == []
