"""Links in Python: a viewer's state saved as a share and restored; URL calls; presets."""

from __future__ import annotations

import warnings

import nbformat
import nibabel as nib
import numpy as np
import pytest

from nora_lab.archive import Archive
from nora_lab.errors import PermissionDenied, UnsafePathError
from nora_lab.server.links import (
    LinkError,
    link_notebook,
    link_url,
    parse_call,
    resolve_call,
    write_notebook,
)
from nora_lab.widgets import Viewer, links
from nora_lab.widgets.links import open_link, restore_viewer, share, viewer_state

pytestmark = pytest.mark.hub

@pytest.fixture
def project(tmp_path):
    arc = Archive.open(f"sqlite:///{tmp_path / 'a.sqlite'}", root=tmp_path / "data", user="alice")
    proj = arc.create_project("demo")
    proj.add_subject("P001")
    proj.add_study("P001", "S1", date="2020-01-01")
    rng = np.random.default_rng(0)
    img = nib.Nifti1Image(rng.random((6, 7, 8)).astype(np.float32), np.diag([2, 2, 2, 1]))
    proj.add_image(img, "P001#S1", "3_t1/t1.nii.gz")
    seg = nib.Nifti1Image((rng.random((6, 7, 8)) > 0.5).astype(np.uint8), np.diag([2, 2, 2, 1]))
    proj.add_image(seg, "P001#S1", "seg/mask.nii.gz")
    yield proj
    arc.close()


def test_a_viewer_state_round_trips_through_a_share(project, tmp_path):
    v = Viewer(layout="1x3")
    v.open(project.study_dir("P001#S1") / "3_t1/t1.nii.gz", viewport=[0, 1, 2],
           colormap="hot", window=(0.4, 0.6))
    v.open(project.study_dir("P001#S1") / "seg/mask.nii.gz", viewport=0, role="mask",
           color="blue", opacity=0.3)
    v.open(np.zeros((3, 3, 3), np.float32), viewport=1, role="overlay", name="scratch")
    v.position = (1.0, 2.0, 3.0)
    state = viewer_state(v, project)
    assert state["psid"] == "P001#S1" and state["skipped"] == ["scratch"]
    assert [x["path"] for x in state["layers"]] == ["P001/S1/3_t1/t1.nii.gz",
                                                     "P001/S1/seg/mask.nii.gz"]

    link = share(v, project, name="qc-1", base="https://hub/hub/user-redirect/")
    assert link == "https://hub/hub/user-redirect/nora/open?project=demo&share=qc-1"
    saved = project.get_json("share", "qc-1")
    assert saved["shared_by"] == "alice" and saved["layers"] == state["layers"]

    w = open_link(project, share="qc-1")
    assert w.view_layout == "1x3" and tuple(w.position) == (1.0, 2.0, 3.0)
    bg, mask = w.layers
    assert (bg["role"], bg["colormap"], bg["viewports"], bg["window"]) == (
        "background", "hot", [0, 1, 2], [0.4, 0.6])
    assert (mask["role"], mask["color"], mask["opacity"]) == ("mask", v.layers[1]["color"], 0.3)


def test_a_shared_state_cannot_reach_outside_the_project(project, tmp_path):
    (tmp_path / "data" / "other").mkdir()
    bad = {"layers": [{"path": "../other/x.nii.gz", "role": "background"}]}
    with pytest.raises(UnsafePathError, match="not a file of project 'demo'"):
        restore_viewer(project, bad)


def test_readers_cannot_save_a_share(project):
    project.archive.add_user("bob")
    project.archive.grant("demo", "bob", "reader")
    as_bob = project.archive.as_user("bob").project("demo")
    with pytest.raises(PermissionDenied, match="editor role"):
        share({"psid": "P001#S1", "layers": []}, as_bob)


def test_a_url_call_opens_the_study_through_a_registered_preset(project, monkeypatch):
    seen = []

    def loader(viewer, proj, psid, preset):
        seen.append((proj.name, psid, preset))
        viewer.open(proj.study_dir(psid) / "seg/mask.nii.gz")
        return preset == "masks"

    monkeypatch.setattr(links, "preset_loaders", [loader])
    state = resolve_call(project, parse_call('{"pid": "P001", "preset": "masks"}', "alice"))
    assert state == {"psid": "P001#S1", "preset": "masks", "selmode": None}
    v = open_link(project, state)
    assert seen == [("demo", "P001#S1", "masks")] and v.layers[0]["name"] == "mask"


def test_an_unknown_preset_shows_the_first_image_and_says_so(project, monkeypatch):
    monkeypatch.setattr(links, "preset_loaders", [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v = open_link(project, {"psid": "P001#S1", "preset": "nope"})
    assert any("preset 'nope'" in str(w.message) for w in caught)
    assert [x["name"] for x in v.layers] == ["t1"]


def test_resolve_call_names_a_missing_subject_or_study(project):
    with pytest.raises(LinkError, match="no subject 'P404'") as err:
        resolve_call(project, {"pid": "P404"})
    assert err.value.status == 404
    with pytest.raises(LinkError, match="P001#S9"):
        resolve_call(project, {"pid": "P001", "sid": "S9"})


def test_link_urls_inside_and_outside_a_hub(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_BASE_URL", raising=False)
    assert link_url("p", share="x") == "/nora/open?project=p&share=x"
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/lab/")
    monkeypatch.delenv("JUPYTERHUB_PUBLIC_HUB_URL", raising=False)
    assert link_url("p", share="x") == "/lab/hub/user-redirect/nora/open?project=p&share=x"
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_HUB_URL", "https://nora.example.org/lab/hub/")
    assert link_url("p", call={"pid": "P1"}) == (
        "https://nora.example.org/lab/hub/user-redirect/nora/open?project=p&"
        "call=%7B%22pid%22%3A%22P1%22%7D")


def test_the_notebook_a_link_writes_opens_the_archive_as_its_reader(tmp_path):
    nb = link_notebook("demo", state={"psid": "P001#S1", "preset": "t1", "selmode": None},
                       url="/nora/open?x")
    path = write_notebook(tmp_path / "links", "demo_P001#S1_t1", nb)
    assert path.name == "demo_P001_S1_t1.ipynb" and not list(path.parent.glob(".*"))
    read = nbformat.read(path, 4)
    nbformat.validate(read)
    code = read.cells[1].source
    assert "Archive.open().project('demo')" in code and "'preset': 't1'" in code
    assert "from nora_lab.widgets import open_link" in code
    assert "share='qc-1'" in link_notebook("demo", share="qc-1").cells[1].source


def test_the_kernel_side_moved_to_the_widgets_and_the_old_names_warn():
    """The server extension never loads a widget; notebooks written by older links
    (``from nora_lab.server import open_link``) still run, with a DeprecationWarning."""
    import nora_lab.server
    import nora_lab.server.links as server_links

    for module in (nora_lab.server, server_links):
        with pytest.warns(DeprecationWarning, match="nora_lab.widgets.links.open_link"):
            assert module.open_link is open_link
    with pytest.warns(DeprecationWarning):
        assert server_links.preset_loaders is links.preset_loaders
