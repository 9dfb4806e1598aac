"""Fixtures for widget tests without a browser: files of every format the
viewer opens, written here with nibabel / pynrrd, and a fake front end that
records what the kernel sends."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def affine():
    a = np.diag([2.0, 2.5, 3.0, 1.0])
    a[:3, 3] = [-20.0, -30.0, 10.0]
    return a


@pytest.fixture
def volume():
    """A 20×24×16 int16 ramp: value = 100*i + 10*j + k, so any voxel is identifiable."""
    i, j, k = np.meshgrid(np.arange(20), np.arange(24), np.arange(16), indexing="ij")
    return (100 * i + 10 * j + k).astype(np.int16)


@pytest.fixture
def files(tmp_path, volume, affine):
    """One file per supported format, all holding ``volume`` (or a small surface / tract)."""
    import nibabel as nib
    import nrrd

    out = {}
    img = nib.Nifti1Image(volume, affine)
    out["nii"] = tmp_path / "ramp.nii"
    nib.save(img, out["nii"])
    out["nii.gz"] = tmp_path / "ramp.nii.gz"
    nib.save(img, out["nii.gz"])
    out["mgz"] = tmp_path / "ramp.mgz"
    nib.save(nib.MGHImage(volume.astype(np.float32), affine), out["mgz"])
    out["mgh"] = tmp_path / "ramp.mgh"
    nib.save(nib.MGHImage(volume.astype(np.float32), affine), out["mgh"])
    # NRRD in LPS space, as Slicer writes it: flip the first two world axes
    lps = affine.copy()
    lps[:2, :] *= -1
    out["nrrd"] = tmp_path / "ramp.nrrd"
    nrrd.write(str(out["nrrd"]), volume, {"space": "left-posterior-superior",
                                          "space directions": lps[:3, :3].T,
                                          "space origin": lps[:3, 3]})
    verts, faces = tetrahedron()
    gii = nib.gifti.GiftiImage(darrays=[
        nib.gifti.GiftiDataArray(verts, intent="NIFTI_INTENT_POINTSET", datatype="NIFTI_TYPE_FLOAT32"),
        nib.gifti.GiftiDataArray(faces, intent="NIFTI_INTENT_TRIANGLE", datatype="NIFTI_TYPE_INT32"),
    ])
    out["gii"] = tmp_path / "tetra.surf.gii"
    nib.save(gii, out["gii"])
    tg = nib.streamlines.Tractogram(streamlines(), affine_to_rasmm=np.eye(4))
    out["tck"] = tmp_path / "fibers.tck"
    nib.streamlines.save(tg, str(out["tck"]))
    out["trk"] = tmp_path / "fibers.trk"
    hdr = {"dimensions": np.array([20, 24, 16]), "voxel_sizes": np.array([2.0, 2.5, 3.0]),
           "voxel_to_rasmm": affine, "voxel_order": "RAS"}
    nib.streamlines.save(tg, str(out["trk"]), header=hdr)
    return out


def tetrahedron():
    verts = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=np.float32)
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]], dtype=np.int32)
    return verts, faces


def streamlines():
    rng = np.random.default_rng(0)
    return [np.cumsum(rng.normal(size=(n, 3)), axis=0).astype(np.float32) for n in (5, 9, 2, 30)]


class FakeFrontend:
    """Stands in for the browser: says "ready", records messages, reassembles layers."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.messages: list[tuple[dict, list[memoryview]]] = []
        viewer.send = self._record

    def _record(self, content, buffers=None):
        self.messages.append((content, list(buffers or [])))

    def ready(self, have=None):
        self.viewer._on_frontend_msg(self.viewer, {"type": "ready", "have": have or {}}, [])

    def draw(self, **msg):
        self.viewer._on_frontend_msg(self.viewer, {"type": "draw", **msg}, [])

    def of_type(self, kind):
        return [(c, b) for c, b in self.messages if c["type"] == kind]

    def assemble(self, layer_id):
        """Rebuild a layer's bytes exactly as the JS does: allocate at begin, copy chunks at offsets."""
        buf, parts = None, None
        for c, b in self.messages:
            if c.get("id") != layer_id:
                continue
            if c["type"] == "begin":
                buf, parts = bytearray(c["total"]), c["parts"]
            elif c["type"] == "chunk":
                data = bytes(b[0])
                buf[c["offset"]: c["offset"] + len(data)] = data
        return bytes(buf), {p["name"]: p for p in parts}


@pytest.fixture
def frontend():
    return FakeFrontend
