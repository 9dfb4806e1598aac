"""Many processes writing at once: nothing lost, nothing duplicated, no error."""

import multiprocessing as mp

import pytest

N_PROC, N_FILES = 8, 500


def _worker(url: str, root: str, k: int) -> None:
    from nora_lab.archive import Archive

    arc = Archive.open(url, root=root, user="alice")
    p = arc.project("conc")
    sid = p.add_subject(f"P{k % 4}")  # processes share subjects ...
    psid = p.add_study(sid, "S1")  # ... and studies
    for i in range(N_FILES):
        path = p.add_bytes(f"{k}-{i}".encode(), psid, f"w{k}/f{i:04d}.nii", tags=[f"w{k}"])
        if i % 2 == 0:
            p.tag_files([path], ["even"])
    arc.close()


@pytest.mark.slow
def test_eight_processes_add_and_tag_500_files_each(archive, url):
    archive.create_project("conc")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(url, str(archive.root), k)) for k in range(N_PROC)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join(600)
    assert [pr.exitcode for pr in procs] == [0] * N_PROC
    p = archive.project("conc")
    df = p.files()
    assert len(df) == N_PROC * N_FILES
    assert df["path"].is_unique
    for k in range(N_PROC):
        assert len(p.files(tags=[f"w{k}"])) == N_FILES
    assert len(p.files(tags=["even"])) == N_PROC * N_FILES // 2
    assert len(p.studies()) == 4
