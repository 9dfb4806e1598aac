"""A segmentation model, ready to predict: trained here or brought from elsewhere.

>>> model = load_model(proj, "tissue")                    # doctest: +SKIP  (stored)
>>> labels = model.predict(nib.load("t1.nii.gz"))        # doctest: +SKIP  (uint8 array)
>>> ext = load_model("unet.onnx", classes=["wm"], images=["t1*/s0*.nii"],
...                  spacing=2.0, patch=48)               # doctest: +SKIP

Kinds and how they load (the loading code is the libraries' own):

=============  =================================================================
``nora``       ``weights.pt``: a MONAI UNet built from the model's config
``torchscript`` ``torch.jit.load``
``onnx``       ``onnxruntime.InferenceSession`` (CPU provider)
``bundle``     a MONAI bundle folder: ``configs/inference.json|yaml``'s
               ``network_def`` (``monai.bundle.ConfigParser``) and
               ``models/model.pt`` (or ``models/model.ts``)
=============  =================================================================

Every kind predicts through :func:`nora_lab.segment.inference.segment_volume`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nora_lab.errors import SegmentError
from nora_lab.segment._deps import need
from nora_lab.segment.config import ModelConfig
from nora_lab.segment.inference import out_of_memory, segment_volume
from nora_lab.segment.network import build_network, pick_device
from nora_lab.segment.store import RECORD, get_record, model_folder

if TYPE_CHECKING:
    from nora_lab.archive import Project

__all__ = ["Model", "load_model", "FILES", "detect_kind"]

#: the file (or folder) of each kind inside a model's folder
FILES = {"nora": "weights.pt", "torchscript": "model.ts", "onnx": "model.onnx",
         "bundle": "bundle"}


@dataclass
class Model:
    """A loaded model: its config, its network (a patch callable) and where it came from.

    Use :func:`load_model` to get one. :meth:`predict` is the whole public contract:
    contrasts in, a label map (0 background, ``i`` = ``classes[i-1]``) out.
    """

    name: str
    kind: str
    config: ModelConfig
    net: Callable[[Any], Any] = field(repr=False)
    device: Any = None
    record: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names, in label-value order (value 1 is the first)."""
        return self.config.classes

    def predict(self, image: Any, *, tta: bool | None = None) -> np.ndarray:
        """The label map of an image, on the image's own grid.

        Parameters
        ----------
        image
            A nibabel image (or a list of them, one per contrast, in the model's order;
            later ones are resampled onto the first through world coordinates), or an
            ``(array, affine)`` pair / a (C, X, Y, Z) array with ``(arrays, affine)``.
        tta
            Average over flips (default: the model's ``tta``).

        Returns
        -------
        numpy.ndarray
            uint8, the image's shape: 0 background, ``k`` the ``k``-th class.

        Raises
        ------
        SegmentError
            Wrong number of contrasts, or out of memory (naming patch and batch size).
        """
        data, zooms = _contrasts(image, len(self.config.images))
        try:
            return segment_volume(self.net, data, zooms, spacing=self.config.spacing,
                                  patch=self.config.patch, overlap=self.config.overlap,
                                  tta=self.config.tta if tta is None else tta,
                                  device=self.device)
        except Exception as exc:
            if out_of_memory(exc):
                raise SegmentError(
                    f"model {self.name!r}: out of memory on {self.device} predicting "
                    f"{data.shape[1:]} with patch {self.config.patch}: use a smaller patch "
                    "(ModelConfig.patch) or the CPU") from exc
            raise

    def predict_rois(self, image: Any, **kw: Any) -> dict[str, np.ndarray]:
        """``{class: boolean mask}`` of :meth:`predict` (what an ROI tool takes)."""
        lab = self.predict(image, **kw)
        return {c: lab == k for k, c in enumerate(self.classes, 1)}


def _contrasts(image: Any, n: int) -> tuple[np.ndarray, tuple[float, ...]]:
    import nibabel as nib

    from nora_lab.segment.data import Case, load_images

    if isinstance(image, (str, os.PathLike)):
        image = [image]
    if isinstance(image, tuple) and len(image) == 2 and not hasattr(image[0], "affine"):
        arr, affine = np.asarray(image[0], dtype=np.float32), np.asarray(image[1], dtype=float)
        arr = arr[None] if arr.ndim == 3 else arr
        image = [nib.Nifti1Image(a, affine) for a in arr]
    imgs = list(image) if isinstance(image, (list, tuple)) else [image]
    if len(imgs) != n:
        raise SegmentError(f"the model takes {n} contrast(s), got {len(imgs)}")
    if all(isinstance(i, (str, os.PathLike)) for i in imgs):
        vol = load_images(Case("(given)", tuple(Path(i) for i in imgs)))
        return vol.image, vol.zooms
    first = imgs[0]
    data = [np.asarray(first.get_fdata(dtype=np.float32)).reshape(first.shape[:3])]
    if len(imgs) > 1:
        from nora_lab.imaging.resample import resample_to_grid

        for other in imgs[1:]:
            data.append(np.nan_to_num(np.asarray(resample_to_grid(other, first).dataobj)))
    zooms = tuple(float(z) for z in np.sqrt((np.asarray(first.affine)[:3, :3] ** 2).sum(0)))
    return np.stack(data).astype(np.float32), zooms


def detect_kind(path: Path) -> str:
    """``torchscript``, ``onnx`` or ``bundle`` for a file or folder brought in."""
    if path.is_dir():
        if (path / "configs").is_dir():
            return "bundle"
        raise SegmentError(f"{path}: a folder without configs/; expected a MONAI bundle "
                           "(configs/inference.json, models/model.pt)")
    if path.suffix == ".onnx":
        return "onnx"
    if path.suffix in (".ts", ".pt", ".pth", ".zip"):
        return "torchscript"
    raise SegmentError(f"{path}: cannot tell the model's kind from {path.suffix!r}; expected "
                       ".onnx, .ts/.pt (TorchScript) or a MONAI bundle folder")


def _load_torchscript(path: Path, device: Any) -> Callable[[Any], Any]:
    torch = need("torch")
    try:
        net = torch.jit.load(str(path), map_location=device)
    except Exception as exc:  # noqa: BLE001 - torch's reason, named
        raise SegmentError(f"{path}: not a TorchScript model torch.jit.load can read "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                           "save one with torch.jit.script(net).save(path)") from exc
    net.eval()
    return net


def _load_onnx(path: Path) -> Callable[[Any], Any]:
    ort = need("onnxruntime")
    torch = need("torch")
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime's reason, named
        raise SegmentError(f"{path}: onnxruntime cannot load it ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:200]})") from exc
    name = session.get_inputs()[0].name

    def run(x: Any) -> Any:
        out = session.run(None, {name: x.detach().cpu().numpy().astype(np.float32)})[0]
        return torch.as_tensor(out)

    return run


def _bundle_config(path: Path) -> Path:
    for name in ("inference.json", "inference.yaml", "inference.yml"):
        if (path / "configs" / name).is_file():
            return path / "configs" / name
    raise SegmentError(f"{path}: a MONAI bundle needs configs/inference.json (or .yaml) "
                       "with a network_def")


def _load_bundle(path: Path, device: Any) -> Callable[[Any], Any]:
    torch = need("torch")
    bundle = need("monai.bundle")
    if (path / "models" / "model.ts").is_file() and not (path / "models" / "model.pt").is_file():
        return _load_torchscript(path / "models" / "model.ts", device)
    parser = bundle.ConfigParser()
    parser.read_config(str(_bundle_config(path)))
    try:
        net = parser.get_parsed_content("network_def")
    except Exception as exc:  # noqa: BLE001 - MONAI's reason, named
        raise SegmentError(f"{path}: the bundle's network_def cannot be built "
                           f"({type(exc).__name__}: {exc})") from exc
    weights = path / "models" / "model.pt"
    if not weights.is_file():
        raise SegmentError(f"{path}: the bundle has no models/model.pt (nor models/model.ts)")
    state = torch.load(weights, map_location=device, weights_only=True)
    try:
        net.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
    except RuntimeError as exc:
        raise SegmentError(f"{weights}: the weights do not fit the bundle's network_def "
                           f"({str(exc).splitlines()[0]})") from exc
    return net.to(device).eval()


def bundle_classes(path: Path) -> tuple[str, ...]:
    """Class names from a bundle's ``configs/metadata.json`` (``channel_def``), if given."""
    meta = path / "configs" / "metadata.json"
    if not meta.is_file():
        return ()
    outputs = json.loads(meta.read_text()).get("network_data_format", {}).get("outputs", {})
    for out in outputs.values():
        chans = out.get("channel_def") or {}
        names = [chans[k] for k in sorted(chans, key=int) if int(k) > 0]
        if names:
            return tuple(names)
    return ()


def _open(kind: str, path: Path, config: ModelConfig, device: Any) -> Callable[[Any], Any]:
    if not path.exists():
        raise SegmentError(f"{path}: the model's {kind} file is missing")
    if kind == "nora":
        torch = need("torch")
        net = build_network(config)
        net.load_state_dict(torch.load(path, map_location=device, weights_only=True))
        return net.to(device).eval()
    if kind == "torchscript":
        return _load_torchscript(path, device)
    if kind == "onnx":
        return _load_onnx(path)
    if kind == "bundle":
        return _load_bundle(path, device)
    raise SegmentError(f"unknown model kind {kind!r} (known: {', '.join(FILES)})")


def load_model(source: Project | str | os.PathLike, name: str | None = None, *,
               device: str = "auto", **config: Any) -> Model:
    """Load a model: one stored in a project, a model folder, or a file brought in.

    Parameters
    ----------
    source
        A :class:`~nora_lab.archive.Project` (then ``name`` is the stored model), a
        model's folder (with ``model.json``), or a TorchScript ``.ts/.pt`` file, an
        ``.onnx`` file or a MONAI bundle folder.
    name
        The stored model's name (with a project).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda[:n]"`` (ONNX models run on the CPU).
    **config
        For a file brought in: :class:`~nora_lab.segment.ModelConfig` fields — at least
        ``classes`` (a bundle's metadata may give them) and usually ``images``,
        ``spacing`` and ``patch``.

    Returns
    -------
    Model

    Raises
    ------
    NotFoundError
        No such model in the project.
    SegmentError
        A file that is missing or that its library cannot load; missing ``classes``.
    """
    dev = pick_device(device)
    if name is not None or hasattr(source, "list_json"):
        if name is None:
            raise SegmentError("load_model(project, name): give the model's name")
        record = get_record(source, name)  # type: ignore[arg-type]
        folder = model_folder(source, name)  # type: ignore[arg-type]
        return _from_record(record, folder, dev)
    path = Path(source)
    if path.is_dir() and (path / RECORD).is_file():
        return _from_record(json.loads((path / RECORD).read_text()), path, dev)
    if not path.exists():
        raise SegmentError(f"{path}: no such model file or folder")
    kind = detect_kind(path)
    if kind == "bundle" and "classes" not in config:
        config["classes"] = bundle_classes(path)
    cfg = byo_config(path, **config)
    return Model(path.stem, kind, cfg, _open(kind, path, cfg, dev), dev,
                 {"kind": kind, "source": str(path), "config": cfg.to_dict()})


def byo_config(path: Path, *, classes: Sequence[str] = (), images: Sequence[str] = ("*",),
               **config: Any) -> ModelConfig:
    """The config of a model brought in: its classes are required."""
    if not classes:
        raise SegmentError(f"{path}: name the model's output classes (classes=['wm', …]; "
                           "output channel 0 is the background)")
    config.setdefault("channels", (16, 32))
    config.setdefault("strides", (2,))
    return ModelConfig(images=tuple(images), labels="(brought in)", classes=tuple(classes),
                       **config)


def _from_record(record: dict[str, Any], folder: Path, device: Any) -> Model:
    cfg = ModelConfig.from_dict(record["config"])
    kind = record.get("kind", "nora")
    if record.get("status") not in (None, "done", "imported"):
        raise SegmentError(f"model {record.get('name')!r} is {record.get('status')!r}, not "
                           "ready to predict (wait for its training, or train it again)")
    return Model(record.get("name", folder.name), kind, cfg,
                 _open(kind, folder / FILES[kind], cfg, device), device, record)
