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
        nib.gifti.GiftiDataArray(verts, intent="NIFTI_INTENT_POINTSET",
                                 datatype="NIFTI_TYPE_FLOAT32"),
        nib.gifti.GiftiDataArray(faces, intent="NIFTI_INTENT_TRIANGLE",
                                 datatype="NIFTI_TYPE_INT32"),
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
        """Rebuild a layer's bytes exactly as the JS does: allocate at begin, copy chunks at
        offsets."""
        buf, parts, encoding = None, None, None
        for c, b in self.messages:
            if c.get("id") != layer_id:
                continue
            if c["type"] == "begin":
                buf, parts, encoding = bytearray(c["total"]), c["parts"], c.get("encoding")
            elif c["type"] == "chunk":
                data = bytes(b[0])
                buf[c["offset"]: c["offset"] + len(data)] = data
        if encoding == "gzip":  # the page inflates it with DecompressionStream('gzip')
            import gzip

            return gzip.decompress(bytes(buf)), {}
        return bytes(buf), {p["name"]: p for p in parts}


    def image(self, layer_id):
        """The layer as the page holds it: the NIfTI sent, with every mask diff applied the
        way viewer.js applies them (x fastest, in the wire's index order)."""
        import nibabel as nib

        blob, _ = self.assemble(layer_id)
        fmt = next(c.get("format") for c in (m for m, _ in self.messages)
                   if c["type"] == "begin" and c["id"] == layer_id)
        img = (nib.MGHImage if fmt == "mgh" else nib.Nifti1Image).from_bytes(blob)
        arr = np.asarray(img.dataobj).copy()
        nx, ny = arr.shape[:2]
        flat = arr.reshape(-1, order="F")
        for c, b in self.messages:
            if c["type"] == "mask_diff" and c["id"] == layer_id:
                x0, x1, y0, y1, z0, z1 = c["bbox"]
                src = np.frombuffer(bytes(b[0]), np.uint8)
                w, s = x1 - x0, 0
                for z in range(z0, z1):
                    for y in range(y0, y1):
                        d = x0 + y * nx + z * nx * ny
                        flat[d: d + w] = src[s: s + w]
                        s += w
        return nib.Nifti1Image(flat.reshape(arr.shape, order="F"), img.affine)


def assert_same_image(a, b):
    """Same voxels in the same world places, whatever the voxel axis order."""
    import nibabel as nib

    ca, cb = nib.as_closest_canonical(a), nib.as_closest_canonical(b)
    np.testing.assert_allclose(ca.affine, cb.affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(ca.dataobj), np.asarray(cb.dataobj))


@pytest.fixture
def frontend():
    return FakeFrontend


# ---------------------------------------------------------------- a small project for the desk


DESK_STUDIES = [f"P00{i}#S1" for i in range(1, 8)]
DESK_DATES = ["2020-01-01", "2020-01-02", "2021-01-03", "2021-01-04", "2021-01-05", "2022-01-06",
              "2022-01-07"]


@pytest.fixture
def desk_project(archive, volume, affine):
    """Project "desk" on the current backend: seven studies P001#S1 … P007#S1.

    ============  ==========  ===========  ==============================================
    study         date        description  files
    ============  ==========  ===========  ==============================================
    P001#S1       2020-01-01  MR Head      3_t1/t1.nii.gz (the ramp), tag ``control``
    P002#S1       2020-01-02  CT Chest     3_t1/t1.nii.gz, 5_flair/flair.nii.gz (ramp x 2)
    P003#S1       2021-01-03  MR Head      3_t1/t1.nii.gz, 7_dwi/dwi.nii.gz (4-D, 3 volumes)
    P004#S1       2021-01-04  CT Chest     3_t1/t1.nii.gz
    P005#S1       2021-01-05  MR Head      5_flair/flair.nii.gz
    P006#S1       2022-01-06  CT Chest     notes/readme.txt
    P007#S1       2022-01-07  MR Head      3_t1/t1.nii.gz that is not a NIfTI file
    ============  ==========  ===========  ==============================================
    """
    import nibabel as nib

    proj = archive.create_project("desk")
    for i, psid in enumerate(DESK_STUDIES, start=1):
        sub, st = psid.split("#")
        proj.add_subject(sub)
        proj.add_study(sub, st, date=DESK_DATES[i - 1],
                       description="MR Head" if i % 2 else "CT Chest")
    t1 = nib.Nifti1Image(volume, affine)
    for psid in DESK_STUDIES[:4]:
        proj.add_image(t1, psid, "3_t1/t1.nii.gz")
    for psid in ("P002#S1", "P005#S1"):
        proj.add_image(nib.Nifti1Image((volume * 2).astype(np.int16), affine), psid,
                       "5_flair/flair.nii.gz")
    dwi = np.stack([volume, volume + 1, volume + 2], axis=-1).astype(np.int16)
    proj.add_image(nib.Nifti1Image(dwi, affine), "P003#S1", "7_dwi/dwi.nii.gz")
    proj.add_bytes(b"notes\n", "P006#S1", "notes/readme.txt")
    proj.add_bytes(b"this is not a NIfTI file" * 20, "P007#S1", "3_t1/t1.nii.gz")
    proj.tag_study("P001#S1", ["control"])
    return proj
