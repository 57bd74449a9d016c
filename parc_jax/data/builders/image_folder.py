"""A user's image folder (one subfolder per class) as an array_record TFDS dataset.

Layouts (class names are the sorted subfolder names, label = position in that list)::

    root/<class>/<image>              -> one split, "train" (or a stratified train/test split
                                         with ``test_fraction``)
    root/<split>/<class>/<image>      -> when every subfolder of root is a split name
                                         (train, test, validation, val)

Images are decoded with PIL and converted to RGB (``channels=3``) or grayscale (``channels=1``).
With ``image_size=S`` every image is resized (antialiased bilinear) so its shorter side is ``S``
and centre-cropped to ``S x S``; with ``image_size=None`` images are stored as decoded and must
all have ``image_shape`` (or the shape of the first decodable image). Undecodable files and
wrongly shaped images are skipped, counted and reported with a warning; a class left without
images is an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pathlib
import re
import warnings

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from parc_jax.data.builders import _base

log = logging.getLogger(__name__)

SPLIT_DIRS = {"train": "train", "test": "test", "validation": "validation", "val": "validation"}
SPLIT_SEED = 2020


@dataclasses.dataclass(eq=False)
class ImageFolderConfig(tfds.core.BuilderConfig):
    """Config of one image folder; its name (folder slug + content hash) keys the prepared copy."""

    root: str = ""
    image_size: int | None = 256
    image_shape: tuple[int, int, int] | None = None
    channels: int = 3
    test_fraction: float = 0.0


def _list_images(class_dir: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in class_dir.rglob("*") if p.is_file() and not p.name.startswith("."))


def scan(root: str | os.PathLike) -> tuple[dict[str, dict[str, list[pathlib.Path]]], list[str]]:
    """Lists ``{split: {class: [files]}}`` and the sorted class names of an image folder.

    Raises:
      DataUnavailableError: the folder does not exist or holds no class subfolders.
      ValueError: a class folder is empty.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise _base.DataUnavailableError(
            f"image folder {root} does not exist: give a folder with one subfolder per class"
        )
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subdirs:
        raise _base.DataUnavailableError(
            f"image folder {root} has no class subfolders: put each class's images in {root}/<class_name>/"
        )
    if all(p.name in SPLIT_DIRS for p in subdirs):
        layout = {SPLIT_DIRS[p.name]: p for p in subdirs}
    else:
        layout = {"train": root}
    files: dict[str, dict[str, list[pathlib.Path]]] = {}
    classes: set[str] = set()
    for split, split_dir in layout.items():
        class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not class_dirs:
            raise _base.DataUnavailableError(f"{split_dir} has no class subfolders")
        files[split] = {}
        for cdir in class_dirs:
            found = _list_images(cdir)
            if not found:
                raise ValueError(f"class folder {cdir} is empty: add images or remove the folder")
            files[split][cdir.name] = found
            classes.add(cdir.name)
    return files, sorted(classes)


def make_config(
    root: str | os.PathLike,
    *,
    image_size: int | None = 256,
    image_shape: tuple[int, int, int] | None = None,
    channels: int = 3,
    test_fraction: float = 0.0,
) -> ImageFolderConfig:
    """Builds the config for ``root``; its name changes when the folder's files change.

    The name is ``<folder-slug>-<hash>`` where the hash covers the absolute path, the options and
    every file's relative path, size and modification time, so an edited folder is re-prepared.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if image_size is not None and image_size < 1:
        raise ValueError(f"image_size must be a positive int or None, got {image_size}")
    if image_shape is not None and (len(image_shape) != 3 or image_shape[-1] != channels):
        raise ValueError(f"image_shape must be (H, W, {channels}), got {image_shape}")
    root = pathlib.Path(root).expanduser().resolve()
    files, _ = scan(root)
    h = hashlib.sha256(repr((str(root), image_size, image_shape, channels, test_fraction)).encode())
    for split in sorted(files):
        for cls in sorted(files[split]):
            for p in files[split][cls]:
                st = p.stat()
                h.update(f"{p.relative_to(root)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    slug = re.sub(r"[^a-z0-9_]+", "_", root.name.lower()).strip("_") or "folder"
    return ImageFolderConfig(
        name=f"{slug}-{h.hexdigest()[:12]}",
        root=str(root),
        image_size=image_size,
        image_shape=image_shape,
        channels=channels,
        test_fraction=test_fraction,
        description=f"Image folder {root}",
    )


def decode_image(path: pathlib.Path, *, channels: int, image_size: int | None) -> np.ndarray:
    """Decodes one file to ``uint8 [H, W, channels]``; raises on undecodable files.

    With ``image_size`` the shorter side is resized to ``image_size`` (PIL bilinear, which
    antialiases when shrinking) and the centre ``image_size x image_size`` square is kept.
    """
    with Image.open(path) as im:
        im = im.convert("RGB" if channels == 3 else "L")
        if image_size is not None:
            w, h = im.size
            s = image_size / min(w, h)
            nw, nh = max(image_size, round(w * s)), max(image_size, round(h * s))
            im = im.resize((nw, nh), Image.BILINEAR)
            left, top = (nw - image_size) // 2, (nh - image_size) // 2
            im = im.crop((left, top, left + image_size, top + image_size))
        arr = np.asarray(im, dtype=np.uint8)
    return arr.reshape(arr.shape[0], arr.shape[1], channels)


class ImageFolder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """TFDS builder for an image folder; build it with :func:`image_folder_builder`."""

    name = "image_folder"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "Initial release.", "1.1.0": "Images stored as raw bytes (faster reads)."}

    def __init__(self, *, config: ImageFolderConfig, **kwargs):
        self._files, self._classes = scan(config.root)
        self.skipped: dict[str, int] = {"undecodable": 0, "wrong_shape": 0}
        super().__init__(config=config, **kwargs)

    def _shape(self) -> tuple[int, int, int]:
        cfg = self.builder_config
        if cfg.image_size is not None:
            return (cfg.image_size, cfg.image_size, cfg.channels)
        if cfg.image_shape is not None:
            return tuple(cfg.image_shape)
        for per_class in self._files.values():  # shape of the first decodable image
            for paths in per_class.values():
                for p in paths:
                    try:
                        return decode_image(p, channels=cfg.channels, image_size=None).shape
                    except Exception:  # pylint: disable=broad-except
                        continue
        raise ValueError(f"no decodable image in {cfg.root}")

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=f"Images from {self.builder_config.root}, one class per subfolder.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(
                        shape=self._shape(), dtype=np.uint8, encoding=tfds.features.Encoding.BYTES
                    ),
                    "label": tfds.features.ClassLabel(names=self._classes),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager
        cfg = self.builder_config
        items = {
            split: [(p, self._classes.index(c)) for c in sorted(per_class) for p in per_class[c]]
            for split, per_class in self._files.items()
        }
        if cfg.test_fraction and set(items) == {"train"}:
            all_items = items["train"]
            labels = np.array([y for _, y in all_items])
            tr, te = _base.stratified_split(labels, test_fraction=cfg.test_fraction, seed=SPLIT_SEED)
            items = {"train": [all_items[i] for i in tr], "test": [all_items[i] for i in te]}
        self._counts = {split: np.zeros(len(self._classes), np.int64) for split in items}
        return {split: self._generate_examples(split, entries) for split, entries in items.items()}

    def _generate_examples(self, split, entries):
        cfg = self.builder_config
        shape = tuple(self.info.features["image"].shape)
        bad = {"undecodable": [], "wrong_shape": []}
        for i, (path, label) in enumerate(entries):
            try:
                img = decode_image(path, channels=cfg.channels, image_size=cfg.image_size)
            except Exception:  # pylint: disable=broad-except  (PIL raises many kinds)
                bad["undecodable"].append(path)
                continue
            if img.shape != shape:
                bad["wrong_shape"].append(path)
                continue
            self._counts[split][label] += 1
            yield i, {"image": img, "label": label}
        for kind, paths in bad.items():
            self.skipped[kind] += len(paths)
            if paths:
                msg = (
                    f"{cfg.root} [{split}]: skipped {len(paths)} {kind.replace('_', ' ')} "
                    f"image(s), e.g. {', '.join(str(p) for p in paths[:3])}"
                )
                log.warning(msg)
                warnings.warn(msg, stacklevel=2)
        had = {label for _, label in entries}
        empty = [self._classes[c] for c in sorted(had) if self._counts[split][c] == 0]
        if empty:
            raise ValueError(
                f"{cfg.root} [{split}]: class(es) {', '.join(empty)} have no decodable "
                f"image of shape {shape}: fix or remove those folders"
            )


def image_folder_builder(
    root: str | os.PathLike,
    *,
    data_dir: str | os.PathLike,
    image_size: int | None = 256,
    image_shape: tuple[int, int, int] | None = None,
    channels: int = 3,
    test_fraction: float = 0.0,
) -> ImageFolder:
    """Returns the (possibly already prepared) builder of ``root`` under ``data_dir``."""
    cfg = make_config(
        root, image_size=image_size, image_shape=image_shape, channels=channels, test_fraction=test_fraction
    )
    return ImageFolder(config=cfg, data_dir=os.fspath(data_dir))
