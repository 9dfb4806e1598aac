"""Every built-in job of the catalogue through the real batch run path on local Dask:
resolve, run in its own process, file atomically with tags, record provenance; listed by
the batch tool and `nora --listjobs`; bad input names the study, the input and the cause;
re-runs are idempotent. MATLAB jobs run for real in GNU Octave."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import test_catalogue_data as data
from test_catalogue_data import add_t1_studies, mni, save, synthetic_dwi

from nora_lab.archive.layout import TMP_PREFIX, sha256
from nora_lab.batch import Batch, Job, launch
from nora_lab.batch.catalogue import cohort_table, provenance
from nora_lab.cli import main

cat_project, home, templates_home = data.cat_project, data.home, data.templates_home  # fixtures
REPO = Path(__file__).resolve().parents[2]
TIDY = ["psid", "subject", "study", "roi", "image", "voxels", "volume_ml", "area_cm2", "mean"]


def cohort_batch(name: str = "cohort") -> Batch:
    """N4 → brain mask → tissues → ROI statistics; the T1 into MNI space with its GM ROI."""
    return Batch(name, [
        Job.builtin("n4", image="t1/t1.nii.gz", iterations="20,20,20"),
        Job.builtin("brain_extract", image="derived/n4*", resolution=3),
        Job.builtin("tissue_segment", image="derived/n4*", mask="brain/mask*"),
        Job.builtin("roi_stats", rois="tissue/_m.nii.gz", images="derived/n4*"),
        Job.builtin("register_template", moving="derived/n4*", resolution=3),
        Job.builtin("apply_transform", images="tissue/gm.nii.gz", reference="reg/mni.nii.gz",
                    transform="reg/to_mni.h5", outdir="mni TAG(mni,roi)"),
    ])


def _run(project, batch, cluster, **kw):
    return launch(batch, project, cluster=cluster, wait=True, progress=False, **kw)


def _on_disk(project, psid) -> set[str]:
    root = project.study_dir(psid)
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_cohort_through_n4_brain_tissue_roi_stats_and_mni_space(cat_project, home, tmp_path,
                                                                  local_cluster, monkeypatch,
                                                                  capsys):
    proj = cat_project
    psids = add_t1_studies(proj, tmp_path, 2)
    run = _run(proj, cohort_batch(), local_cluster)
    st = run.states().set_index("unit")
    assert (st["state"] == "d").all(), st["error"].tolist()

    # outputs filed with their tags, nothing else left in the study folders
    files = proj.files(psid=psids[0])
    tags = dict(zip(files["relpath"], map(set, files["tags"]), strict=True))
    assert tags["derived/n4.nii.gz"] == {"n4"}
    assert tags["brain/mask.nii.gz"] == {"brainmask", "roi"}
    assert tags["tissue/gm.nii.gz"] == {"roi", "gm"} and tags["tissue/labels.nii.gz"] == {"tissue"}
    assert tags["META/roistats.json"] == {"roistats"}
    assert tags["reg/to_mni.h5"] == {"transform"} and tags["mni/gm.nii.gz"] == {"mni", "roi"}
    assert _on_disk(proj, psids[0]) == set(tags)
    mni_gm = nib.load(proj.study_dir(psids[0]) / "mni/gm.nii.gz")
    assert mni_gm.get_data_dtype() == np.uint8 and mni_gm.shape == nib.load(
        home / "cache/templates/mni152_t1_3mm.nii.gz").shape

    # provenance: job, arguments, library and version, inputs' checksums = the archive's
    prov = provenance(proj, proj.study_dir(psids[0]) / "tissue/gm.nii.gz")
    assert prov["job"] == "tissue_segment" and prov["library"] == "antspyx"
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?.*", prov["version"])
    assert prov["study"] == psids[0] and prov["batch"] == "cohort" and prov["run"] == run.id
    assert prov["args"]["mrf"] == 0.2 and prov["args"]["image"] == "S00/MR1/derived/n4.nii.gz"
    image_in = next(i for i in prov["inputs"] if i["arg"] == "image")
    assert image_in["sha256"] == sha256(proj.study_dir(psids[0]) / "derived/n4.nii.gz")
    assert image_in["unchanged"] and image_in["provenance"]["job"] == "n4"
    assert image_in["provenance"]["inputs"][0]["provenance"] is None   # the imported T1
    n4_meta = proj.file_meta(proj.study_dir(psids[0]) / "derived/n4.nii.gz")["provenance"]
    assert n4_meta["libraries"]["SimpleITK"] == prov["inputs"][0]["provenance"]["version"]

    # the cohort's table: study x ROI x image, the ROI tool's statistics, and a CSV
    df = cohort_table(run, csv=tmp_path / "cohort.csv")
    assert list(df.columns[:len(TIDY)]) == TIDY
    assert len(df) == 2 * 2 and set(df["roi"]) == {"gm", "wm"} and set(df["image"]) == {"n4"}
    gm = df.set_index(["psid", "roi"])["mean"]
    assert gm.loc[(psids[1], "gm")] / gm.loc[(psids[0], "gm")] == pytest.approx(1.1, rel=0.05)
    assert gm.loc[(psids[0], "wm")] > gm.loc[(psids[0], "gm")]
    assert (df.set_index(["psid", "roi"])["voxels"].loc[(psids[0], "wm")]
            == (nib.load(proj.study_dir(psids[0]) / "tissue/wm.nii.gz").get_fdata() > 0).sum())
    import pandas as pd

    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "cohort.csv"), df, check_dtype=False)

    # the `nora` command: where a file came from
    monkeypatch.setenv("NORA_DB", proj.archive.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("NORA_ROOT", str(proj.archive.root))
    capsys.readouterr()
    assert main(["-p", proj.name, "--study", psids[0], "--provenance", "mni/gm.nii.gz"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["job"] == "apply_transform" and {i["arg"] for i in out["inputs"]} == {
        "images", "reference", "transform"}

    # re-running is idempotent: the same files and rows, the same N4 bytes, the same
    # statistics (ANTs' multithreaded metric sampling: equal to a small tolerance), no
    # temporary leftovers
    n4_before = sha256(proj.study_dir(psids[0]) / "derived/n4.nii.gz")
    again = _run(proj, cohort_batch(), local_cluster)
    assert set(again.states()["state"]) == {"d"}
    assert _on_disk(proj, psids[0]) == set(tags) and len(proj.files()) == len(files) * 2
    assert sha256(proj.study_dir(psids[0]) / "derived/n4.nii.gz") == n4_before
    df2 = cohort_table(again)
    np.testing.assert_allclose(df2["mean"], df["mean"], rtol=0.01)
    np.testing.assert_allclose(df2["voxels"], df["voxels"], rtol=0.02)
    assert not [p for p in proj.root.rglob(f"{TMP_PREFIX}*")]


def test_reslice_smooth_normalize_and_register_onto_another_series(cat_project, home, tmp_path,
                                                                   local_cluster):
    imgs = mni(3)
    shifted = nib.Nifti1Image(imgs["t1"].get_fdata(dtype=np.float32),
                              imgs["t1"].affine @ np.array([[1, 0, 0, 2.0], [0, 1, 0, 0],
                                                            [0, 0, 1, 0], [0, 0, 0, 1]]))
    (psid,) = add_t1_studies(cat_project, tmp_path, 1, extra={"flair/flair.nii.gz": shifted})
    b = Batch("prep", [
        Job.builtin("reslice", image="rois/gm.nii.gz", reference="flair/*",
                    interpolation="nearest", out="derived/gm_on_flair.nii.gz"),
        Job.builtin("smooth", image="t1/t1.nii.gz", fwhm=8),
        Job.builtin("normalize", image="t1/t1.nii.gz"),
        Job.builtin("register", moving="flair/*", fixed="t1/t1.nii.gz", method="rigid",
                    transform="reg/flair_to_t1.tfm TAG(transform)"),
    ])
    run = _run(cat_project, b, local_cluster)
    assert run.states()["state"].tolist() == ["d"], run.states()["error"].tolist()
    d = cat_project.study_dir(psid)
    gm = nib.load(d / "derived/gm_on_flair.nii.gz")
    assert gm.get_data_dtype() == np.uint8 and np.allclose(gm.affine, shifted.affine, atol=1e-4)
    t1 = imgs["t1"].get_fdata()
    sm = nib.load(d / "derived/smoothed.nii.gz").get_fdata()
    assert np.abs(np.diff(sm, axis=0)).mean() < 0.75 * np.abs(np.diff(t1, axis=0)).mean()
    z = nib.load(d / "derived/normalized.nii.gz").get_fdata()
    assert z.mean() == pytest.approx(0, abs=1e-3) and z.std() == pytest.approx(1, rel=1e-3)
    import SimpleITK as sitk

    tx = sitk.ReadTransform(str(d / "reg/flair_to_t1.tfm"))
    # fixed (T1) -> moving (FLAIR) points: the FLAIR's anatomy lies 6 mm further right
    # (2 voxels of 3 mm), i.e. -6 mm in x in ITK's LPS coordinates
    assert np.allclose(tx.TransformPoint((0.0, 0.0, 0.0)), (-6.0, 0.0, 0.0), atol=0.5)
    assert provenance(cat_project, d / "reg/flair_to_t1.tfm")["args"]["method"] == "rigid"


def test_diffusion_jobs_write_fa_md_and_a_tck(cat_project, tmp_path, local_cluster):
    from nora_lab.imaging import load_streamlines

    img, bvals, bvecs = synthetic_dwi((16, 8, 4))
    sid = cat_project.add_subject("D01")
    psid = cat_project.add_study(sid, "DTI")
    cat_project.add_file(save(img, tmp_path / "dwi.nii.gz"), psid, "9_dti/s009.nii.gz")
    np.savetxt(tmp_path / "s.bval", bvals[None], fmt="%g")
    np.savetxt(tmp_path / "s.bvec", bvecs.T, fmt="%.8f")
    cat_project.add_file(tmp_path / "s.bval", psid, "9_dti/s009.bval")
    cat_project.add_file(tmp_path / "s.bvec", psid, "9_dti/s009.bvec")
    args = {"dwi": "*dti/s0*.nii.gz", "bval": "*dti/*.bval", "bvec": "*dti/*.bvec",
            "brain_mask": False}
    b = Batch("dwi", [Job.builtin("dti_fit", **args),
                      Job.builtin("tractography", fa_seed=0.5, **args)])
    run = _run(cat_project, b, local_cluster)
    assert run.states()["state"].tolist() == ["d"], run.states()["error"].tolist()
    files = cat_project.files(psid=psid)
    tags = dict(zip(files["relpath"], map(set, files["tags"]), strict=True))
    assert tags["dti/fa.nii.gz"] == {"fa"} and tags["dti/md.nii.gz"] == {"md"}
    assert tags["dti/tracts.tck"] == {"fibers"}
    assert len(load_streamlines(cat_project.study_dir(psid) / "dti/tracts.tck")) > 10
    prov = provenance(cat_project, cat_project.study_dir(psid) / "dti/tracts.tck")
    assert prov["library"] == "dipy" and len(prov["inputs"]) == 3


def test_an_octave_job_writes_its_output_through_o1(cat_project, tmp_path, local_cluster):
    psids = add_t1_studies(cat_project, tmp_path, 2)
    script = ("info = dir($f1);\n"
              "fid = fopen($o1, 'w');\n"
              "fprintf(fid, '%s %d %d %g\\n', $s1, info.bytes, numel($f2), $n1 * 2);\n"
              "fclose(fid);\n")
    b = Batch("octave", [Job.matlab(script, name="sizes", f1="t1/t1.nii.gz", f2="rois/*",
                                    s1="it's", n1=1.5, o1="derived/size.txt TAG(octave)")])
    run = _run(cat_project, b, local_cluster)
    assert set(run.states()["state"]) == {"d"}, run.states()["error"].tolist()
    for psid in psids:
        out = cat_project.study_dir(psid) / "derived/size.txt"
        size = (cat_project.study_dir(psid) / "t1/t1.nii.gz").stat().st_size
        assert out.read_text() == f"it's {size} 2 3\n"
        assert cat_project.files("derived/size.txt", psid=psid)["tags"].iloc[0] == ["octave"]
    script_file = Path(run.logs[psids[0]]).with_suffix(".1.m")
    assert "f2 = {'" in script_file.read_text() and "s1 = 'it''s';" in script_file.read_text()
    assert "octave" in run.states()["command"].iloc[0] or ".m" in run.log(psids[0])


def test_a_failing_octave_script_fails_its_study(cat_project, tmp_path, local_cluster):
    add_t1_studies(cat_project, tmp_path, 1)
    b = Batch("octfail", [Job.matlab("error('no brain in %s', $f1);", name="bad", f1="t1/*")])
    run = _run(cat_project, b, local_cluster)
    (err,) = run.states()["error"]
    assert err.startswith("job 1 (bad) exited with status 1")
    assert "no brain in" in run.log(run.units[0].key)


def test_without_matlab_or_octave_the_error_says_so(cat_project, tmp_path, monkeypatch):
    from nora_lab.batch import matlab
    from nora_lab.errors import BatchError

    with pytest.raises(BatchError, match="neither is installed.*apt-get install -y octave"):
        matlab.runtime({"PATH": str(tmp_path)})
    add_t1_studies(cat_project, tmp_path, 1)
    monkeypatch.setenv("PATH", str(tmp_path))       # the launching process runs the workers
    run = launch(Batch("nomatlab", [Job.matlab("disp($f1)", f1="t1/*")]), cat_project,
                 wait=True, progress=False, n_workers=1)
    (err,) = run.states()["error"]
    assert "a MATLAB/Octave job needs MATLAB or GNU Octave, and neither is installed" in err


def test_bad_input_names_the_study_the_input_and_the_cause(cat_project, home, tmp_path,
                                                           local_cluster):
    psids = add_t1_studies(cat_project, tmp_path, 2)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"this is no image")
    cat_project.add_file(broken, psids[1], "t1/t1.nii.gz", overwrite=True)
    b = Batch("n4only", [Job.builtin("n4", image="t1/t1.nii.gz", iterations="5,5")])
    run = _run(cat_project, b, local_cluster)
    st = run.states().set_index("unit")
    assert st.loc[psids[0], "state"] == "d"
    err = st.loc[psids[1], "error"]
    path = cat_project.study_dir(psids[1]) / "t1/t1.nii.gz"
    assert err.startswith(f"job 1 (n4) exited with status 1: study {psids[1]}, job n4, "
                          f"input image={path}: cannot read it as an image"), err
    assert not (cat_project.study_dir(psids[1]) / "derived").exists() or not list(
        (cat_project.study_dir(psids[1]) / "derived").iterdir())   # nothing half-written
    # fixed, the erroneous subgroup reruns
    cat_project.add_file(tmp_path / "t1_0.nii.gz", psids[1], "t1/t1.nii.gz", overwrite=True)
    rerun = _run(cat_project, b, local_cluster, filters={"subject": "JOB:e"})
    assert [u.key for u in rerun.units] == [psids[1]] and rerun.counts() == {"d": 1}


def test_the_catalogue_is_listed_by_the_batch_tool_and_nora_listjobs(cat_project, capsys):
    from nora_lab.batch.catalogue import MODULES
    from nora_lab.batch.catalogue._job import CATALOGUE
    from nora_lab.widgets.batchtool import BatchTool

    assert MODULES and len(CATALOGUE) == 12
    tool = BatchTool(cat_project)
    listed = {t["job"] for t in tool.templates if t["type"] == "builtin"}
    assert set(CATALOGUE) <= listed
    assert "matlab" in {t["type"] for t in tool.templates}
    n4 = next(t for t in tool.templates if t["job"] == "n4")
    assert n4["params"]["out"] == {"kind": "OUT", "many": False, "options": [],
                                   "default": "derived/n4.nii.gz TAG(n4)"}
    i = tool.add_job("tissue_segment")
    tool.set_arg(i, "image", "t1*")
    tool.set_arg(i, "mask", "brain/mask*")
    assert tool.to_batch().jobs[0].registered_name == "tissue_segment"
    j = tool.add_job("matlab")
    tool.set_script(j, "disp($f1)")
    assert list(tool.jobs[j]["args"]) == ["f1"]

    assert main(["--listjobs"]) == 0
    text = capsys.readouterr().out
    for name in CATALOGUE:
        assert re.search(rf"^{name}: \S", text, re.M), name
    assert re.search(r"^    method\s+OPTION\(rigid\|affine\|deformable\)\s+= 'affine'", text, re.M)
    assert re.search(r"^    mask\s+FILE\s+\(required\)", text, re.M)
    assert main(["--listjobs", "-j"]) == 0
    jobs = json.loads(capsys.readouterr().out)
    assert jobs["roi_stats"]["args"]["rois"] == {"type": "FILE+", "required": True}
    assert jobs["n4"]["args"]["shrink"] == {"type": "NUMERIC", "default": 2}


def test_the_batch_format_docs_example_is_a_valid_batch():
    text = (REPO / "docs/batch-format.md").read_text()
    block = re.search(r"## The JSON form\n\n```json\n(.*?)\n```", text, re.S).group(1)
    b = Batch.from_json(block).validate()
    assert [j.type for j in b.jobs] == ["bash", "python", "builtin", "notebook"]
    example = re.search(r"```python\n(from nora_lab.batch import Batch.*?)\n```", text, re.S).group(1)
    jobs = re.search(r'b = (Batch\("preproc", \[.*?\]\))', example, re.S).group(1)
    assert eval(jobs, {"Batch": Batch, "Job": Job}).validate().jobs[2].registered_name == "roi_stats"
