"""The processing catalogue: what running a built-in job costs over calling its library.

1. Per job, one study (MNI152 T1 at 2 mm, nilearn's): the library called directly in this
   process (the peer) against
   * ``call``: the catalogue's function called directly (argument binding, atomic write,
     provenance record with the inputs' SHA-256);
   * ``job``: the whole batch path on a warm LocalCluster — resolve, the job's own process
     (interpreter start, imports), run, check, register with tags and provenance.
2. A cohort (N4 → template registration → brain mask → tissues → ROI statistics) of
   ``--n`` studies on local Dask and on a single-node Slurm, against the same library calls
   one after another in one process.

Prints ``BENCH <name> <value> <unit> ratio=<ours/peer>``.

    python benchmarks/bench_catalogue.py [--n 4] [--no-slurm]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "batch"))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
from test_catalogue_data import add_t1_studies, mni, open_project, synthetic_dwi  # noqa: E402


def bench(name: str, value: float, unit: str, ratio: float) -> None:
    print(f"BENCH {name} {value:.3f} {unit} ratio={ratio:.2f}", flush=True)


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# --- the peers: the libraries called directly, as each job calls them -------------------
def peer_n4(src, out):
    import SimpleITK as sitk

    img = sitk.ReadImage(src, sitk.sitkFloat32)
    small = sitk.Shrink(img, [2, 2, 2])
    f = sitk.N4BiasFieldCorrectionImageFilter()
    f.SetMaximumNumberOfIterations([50, 50, 50, 50])
    f.SetConvergenceThreshold(0.001)
    f.Execute(small, sitk.OtsuThreshold(small, 0, 1, 200))
    sitk.WriteImage(sitk.Cast(img / sitk.Exp(f.GetLogBiasFieldAsImage(img)), sitk.sitkFloat32), out)


def peer_register(moving, fixed, out, xfm):
    import ants
    import SimpleITK as sitk

    with tempfile.TemporaryDirectory() as tmp:
        r = ants.registration(ants.image_read(fixed), ants.image_read(moving), "Affine",
                              random_seed=1, outprefix=os.path.join(tmp, "x"))
        ants.image_write(r["warpedmovout"], out)
        sitk.WriteTransform(sitk.ReadTransform(r["fwdtransforms"][0]), xfm)


def peer_tissue(src, mask, out):
    import ants

    img = ants.image_read(src)
    seg = ants.atropos(a=img, x=ants.image_read(mask), i="kmeans[3]", m="[0.2,1x1x1]", c="[5,0]",
                       verbose=0)
    ants.image_write(seg["segmentation"], out)


def peer_smooth(src, out):
    import SimpleITK as sitk

    sitk.WriteImage(sitk.SmoothingRecursiveGaussian(sitk.ReadImage(src, sitk.sitkFloat32),
                                                    6.0 / 2.3548), out)


def peer_roistats(rois, images, out):
    import json

    from nora_lab.imaging import ROI, roi_statistics

    df = roi_statistics([ROI.from_nifti(nib.load(p), name=Path(p).name) for p in rois],
                        {Path(p).name: nib.load(p) for p in images})
    Path(out).write_text(json.dumps(df.to_dict("records"), default=float))


def peer_dti(dwi, bval, bvec, fa, md):
    from dipy.core.gradients import gradient_table
    from dipy.io.gradients import read_bvals_bvecs
    from dipy.reconst.dti import TensorModel
    from dipy.segment.mask import median_otsu

    img = nib.load(dwi)
    data = np.asarray(img.dataobj, dtype=np.float32)
    bvals, bvecs = read_bvals_bvecs(bval, bvec)
    gtab = gradient_table(bvals, bvecs=bvecs)
    _, mask = median_otsu(data, vol_idx=np.flatnonzero(gtab.b0s_mask), median_radius=2, numpass=1)
    fit = TensorModel(gtab).fit(data, mask=mask)
    for v, p in ((fit.fa, fa), (fit.md, md)):
        nib.save(nib.Nifti1Image(np.nan_to_num(v).astype(np.float32), img.affine), p)


def bench_jobs(base: Path) -> None:
    from nora_lab.batch import Batch, Job, backends, launch, settings
    from nora_lab.batch.catalogue import bias, diffusion, registration, reslice, roistats, tissue

    arc, proj = open_project(base / "jobs")
    imgs = mni(2)
    mask = base / "mask.nii.gz"
    nib.save(imgs["mask"], mask)
    img, bvals, bvecs = synthetic_dwi((24, 24, 12))
    dwi = base / "dwi.nii.gz"
    nib.save(img, dwi)
    np.savetxt(base / "dwi.bval", bvals[None], fmt="%g")
    np.savetxt(base / "dwi.bvec", bvecs.T, fmt="%.8f")
    extra = {"mask/mask.nii.gz": imgs["mask"], "dwi/dwi.nii.gz": img,
             "moving/moving.nii.gz": nib.Nifti1Image(imgs["t1"].get_fdata(dtype=np.float32),
                                                     imgs["t1"].affine @ np.diag([1, 1, 1, 1.0])
                                                     + np.array([[0, 0, 0, 4.0], [0] * 4, [0] * 4,
                                                                 [0] * 4]))}
    (psid,) = add_t1_studies(proj, base, 1, res=2, extra=extra)
    for ext, arr in (("bval", bvals[None]), ("bvec", bvecs.T)):
        p = base / f"s.{ext}"
        np.savetxt(p, arr, fmt="%.8f")
        proj.add_file(p, psid, f"dwi/dwi.{ext}")
    d = proj.study_dir(psid)
    t1, mv, mk = str(d / "t1/t1.nii.gz"), str(d / "moving/moving.nii.gz"), str(d / "mask/mask.nii.gz")
    rois = [str(d / "rois/gm.nii.gz"), str(d / "rois/wm.nii.gz")]
    dw = {"dwi": str(d / "dwi/dwi.nii.gz"), "bval": str(d / "dwi/dwi.bval"), "bvec": str(d / "dwi/dwi.bvec")}
    out = base / "out"
    out.mkdir()
    o = lambda name: str(out / name)  # noqa: E731
    cases = [  # job, its arguments in a batch, the catalogue call, the peer call
        ("n4", {"image": "t1/*"}, lambda: bias.n4(t1, o("n4.nii.gz")),
         lambda: peer_n4(t1, o("p_n4.nii.gz"))),
        ("register", {"moving": "moving/*", "fixed": "t1/*"},
         lambda: registration.register(mv, t1, o("r.nii.gz"), o("r.h5")),
         lambda: peer_register(mv, t1, o("p_r.nii.gz"), o("p_r.h5"))),
        ("tissue_segment", {"image": "t1/*", "mask": "mask/*"},
         lambda: tissue.tissue_segment(t1, mk, o("l.nii.gz"), o("c.nii.gz"), o("g.nii.gz"), o("w.nii.gz")),
         lambda: peer_tissue(t1, mk, o("p_l.nii.gz"))),
        ("smooth", {"image": "t1/*"}, lambda: reslice.smooth(t1, o("s.nii.gz")),
         lambda: peer_smooth(t1, o("p_s.nii.gz"))),
        ("roi_stats", {"rois": "rois/*", "images": "t1/*"},
         lambda: roistats.roi_stats(rois, [t1], o("stats.json")),
         lambda: peer_roistats(rois, [t1], o("p_stats.json"))),
        ("dti_fit", {"dwi": "dwi/*.nii.gz", "bval": "dwi/*.bval", "bvec": "dwi/*.bvec"},
         lambda: diffusion.dti_fit(**dw, fa=o("fa.nii.gz"), md=o("md.nii.gz")),
         lambda: peer_dti(*dw.values(), o("p_fa.nii.gz"), o("p_md.nii.gz"))),
    ]
    cluster = backends.make_cluster(settings(n_workers=1), n_units=1)
    try:
        for name, args, call, peer in cases:
            peer()  # warm the imports of this process
            p = timed(peer, 2)
            c = timed(call, 2)
            bench(f"catalogue_{name}_call", c, "s", c / p)
            b = Batch(f"bench_{name}", [Job.builtin(name, **args)])
            launch(b, proj, [psid], cluster=cluster, wait=True, progress=False)  # warm the worker
            j = timed(lambda b=b: launch(b, proj, [psid], cluster=cluster, wait=True,
                                         progress=False), 2)
            bench(f"catalogue_{name}_job", j, "s", j / p)
    finally:
        cluster.close()
        arc.close()


def cohort_batch():
    from nora_lab.batch import Batch, Job

    return Batch("cohort", [
        Job.builtin("n4", image="t1/*"),
        Job.builtin("register_template", moving="derived/n4*", resolution=2),
        Job.builtin("brain_extract", image="reg/mni*", resolution=2),
        Job.builtin("tissue_segment", image="reg/mni*", mask="brain/mask*"),
        Job.builtin("roi_stats", rois="tissue/_m.nii.gz", images="reg/mni*"),
    ])


def cohort_peer(proj, psids, base: Path) -> float:
    """The same steps, library calls one after another in this process."""
    import ants

    from nora_lab.batch.catalogue.templates import template_file

    tpl, tmask = str(template_file("t1", 2)), str(template_file("mask", 2))
    t0 = time.perf_counter()
    for i, psid in enumerate(psids):
        d = base / f"peer{i}"
        d.mkdir()
        peer_n4(str(proj.study_dir(psid) / "t1/t1.nii.gz"), str(d / "n4.nii.gz"))
        peer_register(str(d / "n4.nii.gz"), tpl, str(d / "mni.nii.gz"), str(d / "x.h5"))
        with tempfile.TemporaryDirectory() as tmp:
            fixed = ants.image_read(str(d / "mni.nii.gz"))
            r = ants.registration(fixed, ants.image_read(tpl), "Affine", random_seed=1,
                                  outprefix=os.path.join(tmp, "x"))
            m = ants.apply_transforms(fixed, ants.image_read(tmask), r["fwdtransforms"])
            ants.image_write(fixed.new_image_like((m.numpy() >= 0.5).astype("float32")),
                             str(d / "mask.nii.gz"))
        peer_tissue(str(d / "mni.nii.gz"), str(d / "mask.nii.gz"), str(d / "labels.nii.gz"))
        lab = nib.load(d / "labels.nii.gz")
        for k, cls in (("gm", 2), ("wm", 3)):
            nib.save(nib.Nifti1Image((lab.get_fdata() == cls).astype(np.uint8), lab.affine),
                     d / f"{k}.nii.gz")
        peer_roistats([str(d / "gm.nii.gz"), str(d / "wm.nii.gz")], [str(d / "mni.nii.gz")],
                      str(d / "stats.json"))
    return time.perf_counter() - t0


def bench_cohort(base: Path, n: int, slurm: bool) -> None:
    from nora_lab.batch import launch

    arc, proj = open_project(base / "cohort")
    psids = add_t1_studies(proj, base, n, res=2)
    peer = cohort_peer(proj, psids, base)
    t0 = time.perf_counter()
    run = launch(cohort_batch(), proj, wait=True, progress=False, n_workers=2)
    ours = time.perf_counter() - t0
    assert run.counts() == {"d": n}, run.errors()
    bench(f"catalogue_cohort_{n}_local", ours, "s", ours / peer)
    if slurm:
        sbase = Path(tempfile.mkdtemp(prefix="nora-slurm-bench-", dir="/tmp"))
        import socket

        def port() -> int:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return s.getsockname()[1]

        env = {**os.environ, "SLURM_BASE": str(sbase), "SLURM_NODE_CPUS": "4",
               "SLURM_INSTALL": "1", "SLURM_CTLD_PORT": str(port()), "SLURMD_PORT": str(port())}
        scripts = REPO / "scripts" / "slurm"
        start = subprocess.run(["bash", str(scripts / "start_slurm.sh")], env=env,
                               capture_output=True, text=True)
        if start.returncode != 0:
            raise SystemExit(f"Slurm could not start:\n{start.stdout}\n{start.stderr}")
        os.environ["SLURM_CONF"] = str(sbase / "etc" / "slurm.conf")
        try:
            subprocess.run(["sbatch", "--wait", "--wrap", "true", "-o", "/dev/null"], check=True,
                           capture_output=True)
            opts = {"backend": "slurm", "interface": "lo", "memory": "2GB", "walltime": "00:20:00",
                    "scheduler_options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"},
                    "local_directory": str(base / "dws"), "maximum_jobs": 2}
            t0 = time.perf_counter()
            run = launch(cohort_batch(), proj, wait=True, progress=False, **opts)
            ours = time.perf_counter() - t0
            assert run.counts() == {"d": n}, run.errors()
            bench(f"catalogue_cohort_{n}_slurm", ours, "s", ours / peer)
        finally:
            subprocess.run(["bash", str(scripts / "stop_slurm.sh")], env=env, capture_output=True)
            shutil.rmtree(sbase, ignore_errors=True)
    arc.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=4, help="studies in the cohort run")
    ap.add_argument("--no-slurm", action="store_true", help="skip the Slurm cohort run")
    args = ap.parse_args(argv)
    base = Path(tempfile.mkdtemp(prefix="nora-bench-catalogue-"))
    os.environ["NORA_HOME"] = str(base / "home")
    try:
        bench_jobs(base)
        bench_cohort(base, args.n, not args.no_slurm)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
