"""The nnInteractive backends: the model on a local GPU, or a lab's shared server.

* ``nninteractive`` — the ``nninteractive`` package's ``nnInteractiveInferenceSession``
  on this machine's GPU, with the trained model folder (``nnInteractive_v1.0``) at the
  path set as ``nninteractive.weights`` in ``assist.yaml``.
* ``nninteractive-remote`` — ``nnInteractiveRemoteInferenceSession`` of the torch-free
  ``nninteractive-client`` package, talking to the lab's ``nninteractive-server`` at
  ``nninteractive-remote.url``; the image is sent once per session.

Both sessions have the same API (``set_image`` of a ``(1, x, y, z)`` array,
``set_target_buffer``, ``add_point_interaction`` / ``add_bbox_interaction`` /
``add_scribble_interaction`` / ``add_lasso_interaction`` with ``include_interaction``,
``reset_interactions``), so one class calls both. Neither needs anything at import:
what is missing (package, weights, GPU, server) is named when the backend starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from nora_lab.errors import BackendUnavailable

from .backend import Backend, Proposal
from .interactions import Box, Interaction, Lasso, Point, Scribble, slice_mask

__all__ = ["NNInteractiveBackend", "NNInteractiveRemoteBackend"]


class _SessionBackend(Backend):
    """Calls an nnInteractive inference session (local or remote) one interaction at a time."""

    def __init__(self) -> None:
        super().__init__()
        self._session: Any = None
        self._target: Any = None

    def _open(self) -> Any:  # pragma: no cover - defined by each backend
        raise NotImplementedError

    def _new_target(self, shape: tuple[int, ...]) -> Any:
        return np.zeros(shape, np.uint8)

    def set_image(self, image: np.ndarray, affine: np.ndarray) -> None:
        session = self._session or self._open()
        super().set_image(image, affine)
        try:
            session.set_image(np.asarray(image)[None])
            self._target = self._new_target(np.shape(image))
            session.set_target_buffer(self._target)
        except Exception as exc:  # the package's own errors: name them, keep the cause
            raise BackendUnavailable(f"{self.name}: sending the image failed: {exc}") from exc
        self._session = session

    def add(self, interaction: Interaction) -> Proposal:
        image = self._image()
        s = self._session
        include = interaction.positive
        if isinstance(interaction, Point):
            s.add_point_interaction(interaction.voxel, include_interaction=include)
        elif isinstance(interaction, Box):
            box = [[sl.start, sl.stop] for sl in interaction.slices]
            s.add_bbox_interaction(box, include_interaction=include)
        elif isinstance(interaction, Scribble):
            drawn = np.zeros(image.shape, np.uint8)
            drawn[tuple(interaction.voxels.T)] = 1
            s.add_scribble_interaction(drawn, include_interaction=include)
        elif isinstance(interaction, Lasso):
            axis, index, mask = slice_mask(interaction, image.shape)
            drawn = np.zeros(image.shape, np.uint8)
            plane = [slice(None)] * 3
            plane[axis] = index  # type: ignore[call-overload]
            drawn[tuple(plane)] = mask
            s.add_lasso_interaction(drawn, include_interaction=include)
        return Proposal.from_mask(np.asarray(self._result()))

    def _result(self) -> Any:
        target = self._session.target_buffer
        return target.cpu().numpy() if hasattr(target, "cpu") else target

    def reset(self) -> None:
        if self._session is not None and self.image is not None:
            self._session.reset_interactions()


class NNInteractiveBackend(_SessionBackend):
    """nnInteractive on a local GPU.

    Parameters
    ----------
    weights : path
        The trained model folder (e.g. ``…/nnInteractive_v1.0``, with ``plans.json``
        and ``fold_0/``), from https://huggingface.co/nnInteractive/nnInteractive.
    device : str
        A torch device (``"cuda:0"``).
    autozoom : bool
        nnInteractive's AutoZoom for large objects.
    """

    name = "nninteractive"

    def __init__(self, weights: str | Path | None = None, device: str = "cuda:0",
                 autozoom: bool = True) -> None:
        super().__init__()
        self.weights = Path(weights).expanduser() if weights else None
        self.device = device
        self.autozoom = autozoom

    def _open(self) -> Any:
        if self.weights is None:
            raise BackendUnavailable(
                "nninteractive: no weights: set nninteractive.weights in assist.yaml (or "
                "weights=...) to the nnInteractive_v1.0 model folder from "
                "https://huggingface.co/nnInteractive/nnInteractive")
        if not (self.weights / "plans.json").is_file():
            raise BackendUnavailable(
                f"nninteractive: the weights folder {self.weights} has no plans.json: "
                "expected the nnInteractive_v1.0 model folder (plans.json, fold_0/)")
        try:
            import torch
            from nnInteractive.inference.inference_session import nnInteractiveInferenceSession
        except ImportError as exc:
            raise BackendUnavailable(
                f"nninteractive: the nninteractive package cannot be imported ({exc}): "
                "pip install nninteractive (with a CUDA build of torch), or use the "
                "nninteractive-remote or cpu backend") from None
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable(
                f"nninteractive: device {self.device!r} asked for but torch sees no GPU "
                "here; use the nninteractive-remote backend (the lab's server) or cpu")
        session = nnInteractiveInferenceSession(
            device=torch.device(self.device), use_torch_compile=False, verbose=False,
            torch_n_threads=os.cpu_count() or 1, do_autozoom=self.autozoom,
            use_pinned_memory=self.device.startswith("cuda"))
        session.initialize_from_trained_model_folder(str(self.weights))
        return session

    def _new_target(self, shape: tuple[int, ...]) -> Any:
        import torch

        return torch.zeros(shape, dtype=torch.uint8)


class NNInteractiveRemoteBackend(_SessionBackend):
    """nnInteractive on the lab's shared server, through ``nninteractive-client``.

    Parameters
    ----------
    url : str
        The ``nninteractive-server`` address, e.g. ``http://gpu-box:1527``.
    api_key : str, optional
        The server's key, if it asks for one.
    """

    name = "nninteractive-remote"

    def __init__(self, url: str | None = None, api_key: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.api_key = api_key

    def _open(self) -> Any:
        if not self.url:
            raise BackendUnavailable(
                "nninteractive-remote: no server: set nninteractive-remote.url in "
                "assist.yaml (or url=...) to the lab's nninteractive-server, e.g. "
                "http://gpu-box:1527")
        try:
            from nnInteractive.inference.remote import nnInteractiveRemoteInferenceSession
        except ImportError as exc:
            raise BackendUnavailable(
                f"nninteractive-remote: the nninteractive-client package cannot be imported "
                f"({exc}): pip install nninteractive-client") from None
        try:
            return nnInteractiveRemoteInferenceSession(self.url, api_key=self.api_key)
        except Exception as exc:
            raise BackendUnavailable(
                f"nninteractive-remote: cannot reach the server at {self.url}: {exc}") from exc
