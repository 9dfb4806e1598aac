"""notebooks/tools.ipynb in real JupyterLab + headless Chromium: the batch tool, Gridstats and
the PACS query driven by clicks and typing, every check crossing the kernel.

The notebook copy in the Lab's folder gets its parameters set (papermill style): the demo
PACS is loaded with the GE 3D T1 of dcm_qa_ge (read in place, 130 instances) and nothing
is launched or pulled from Python — the buttons do it. One page, checks in order.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from nora_lab.testing import testdata

pytestmark = [pytest.mark.browser, pytest.mark.pacs]

GE_T1 = testdata.path("dcm_qa_ge") / "In" / "05_3D_Ax_T1_MP_RAGE_R22"


@pytest.fixture(scope="module")
def page(lab):
    nb_path = lab.server.root_dir / "tools.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    (params,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    params.source = f"DICOM = {str(GE_T1)!r}\nRUN_HERE = False"
    nbformat.write(nb, nb_path)
    page = lab.open_notebook("tools.ipynb")
    lab.run_all(page, timeout=240)
    try:
        page.wait_for_selector(".nora-batchtool[data-jobs='1']", timeout=60_000)
        page.wait_for_selector(".nora-gridstats", timeout=60_000)
        page.wait_for_selector(".nora-pacsquery", timeout=60_000)
    except Exception:
        page.screenshot(path=str(lab.artifacts / "tools_not_ready.png"), full_page=True)
        raise
    yield page
    page.screenshot(path=str(lab.artifacts / "tools_notebook_end.png"), full_page=True)
    lab.close(page)


def test_notebook_runs_without_errors(lab, page):
    assert lab.errors_in_outputs(page) == []
    assert not [line for line in lab.console if "[pageerror]" in line], lab.console
    assert lab.external_requests == []


def test_preview_shows_the_study_without_a_t1(page):
    tool = page.locator(".nora-batchtool")
    missing = tool.locator(".nora-bt-preview tr.missing")
    assert missing.count() == 1 and missing.get_attribute("data-psid") == "carl#S1"
    assert "t1_mpr/s001.nii" in tool.locator(
        ".nora-bt-preview tr[data-psid='anna#S1']").inner_text()
    text = tool.inner_text()
    assert "2 resolve to nothing" not in text and "1 resolve to nothing" in text


def test_typing_a_script_adds_its_argument_rows(page):
    tool = page.locator(".nora-batchtool")
    tool.locator(".nora-bt-template").select_option("bash")
    tool.locator(".nora-bt-add").click()
    page.wait_for_selector(".nora-batchtool[data-jobs='2']", timeout=30_000)
    script = tool.locator(".nora-bt-job[data-index='1'] .nora-bt-script")
    script.click()
    script.type('echo "size of $f1 is" $(wc -c < "$f1"); echo $s1')
    page.wait_for_selector(".nora-bt-job[data-index='1'] input[data-arg='s1']", timeout=30_000)
    args = tool.locator(".nora-bt-job[data-index='1'] input[data-arg]")
    assert [args.nth(i).get_attribute("data-arg") for i in range(args.count())] == ["f1", "s1"]
    for name, value in (("f1", "derived/t1*"), ("s1", "done")):
        box = tool.locator(f".nora-bt-job[data-index='1'] input[data-arg='{name}']")
        box.fill(value)
        box.press("Tab")  # change -> set_arg in Python
        page.wait_for_function(
            """([n, v]) => [...document.querySelectorAll(
                              ".nora-bt-job[data-index='1'] input[data-arg]")]
                          .some(e => e.dataset.arg === n && e.value === v)""", arg=[name, value],
            timeout=30_000)


def test_a_batch_launched_from_the_widget_runs_and_its_jobs_appear_in_gridstats(page):
    tool = page.locator(".nora-batchtool")
    tool.locator(".nora-bt-launch").click()
    page.wait_for_function("() => document.querySelector('.nora-batchtool').dataset.run !== ''",
                           timeout=60_000)
    # the run ends: anna and bert done, carl (no T1) in error
    page.wait_for_function(
        "() => /d: 2/.test(document.querySelector('.nora-bt-counts').innerText)"
        " && /e: 1/.test(document.querySelector('.nora-bt-counts').innerText)", timeout=120_000)
    run_id = tool.get_attribute("data-run")
    grid = page.locator(".nora-gridstats")
    page.wait_for_function(
        "() => { const g = document.querySelector('.nora-gridstats');"
        " return g.dataset.rows === '3' && [...g.dataset.states].sort().join('') === 'dde'; }",
        timeout=60_000)  # the live table, no click needed
    assert run_id in tool.inner_text() or run_id
    assert grid.locator("tr[data-state='e']").get_attribute("data-unit") == "carl#S1"


def test_a_failing_jobs_log_and_json_open(page):
    grid = page.locator(".nora-gridstats")
    grid.locator("tr[data-state='e'] td").nth(2).click()
    page.wait_for_function(
        "() => /matches no file/.test(document.querySelector('.nora-gs-log')?.innerText || '')",
                           timeout=30_000)
    info = json.loads(grid.locator(".nora-gs-json").text_content())
    assert info["unit"] == "carl#S1" and info["state"] == "e" and info["batch"] == "copy_t1"
    ok = grid.locator("tr[data-unit='anna#S1'] td").nth(2)
    ok.click()
    page.wait_for_function("() => /copied/.test(document.querySelector('.nora-gs-log').innerText)",
                           timeout=30_000)
    assert "size of" in grid.locator(".nora-gs-log").inner_text()


def test_rerun_errors_relaunches_only_the_failing_study(page):
    grid = page.locator(".nora-gridstats")
    before = grid.locator("tr[data-state='e']").get_attribute("data-run")
    grid.locator("tr[data-state='e'] td").nth(2).click()
    grid.locator(".nora-gs-rerun").click()
    page.wait_for_function(
        "() => /relaunched 'copy_t1' .* on 1 unit\\(s\\): carl#S1/"
        ".test(document.querySelector('.nora-gs-status').innerText)", timeout=60_000)
    page.wait_for_function(  # carl fails again (still no T1) in a new row; the others stay
        """b => { const rows = [...document.querySelectorAll('.nora-gridstats tr[data-unit]')];
                  const carl = rows.find(r => r.dataset.unit === 'carl#S1');
                  return rows.length === 3 && carl.dataset.state === 'e'
                         && carl.dataset.run !== b; }""",
        arg=before, timeout=120_000)


def test_the_failing_study_opens_as_a_debug_notebook(page):
    tool = page.locator(".nora-batchtool")
    tool.locator(".nora-bt-debug[data-psid='carl#S1']").click()
    link = page.wait_for_selector(".nora-bt-debug-link", timeout=30_000)
    assert link.inner_text() == "debug_copy_t1_carl_S1.ipynb"
    assert link.get_attribute("href").endswith("/lab/tree/debug_copy_t1_carl_S1.ipynb")


def test_pacs_search_lists_the_t1_and_a_pull_brings_it_into_the_project(lab, page):
    q = page.locator(".nora-pacsquery")
    q.locator("input[data-field='patient_id']").fill("dicom")
    q.locator("input[data-field='study_date']").fill("*")
    q.locator(".nora-pq-search").click()
    page.wait_for_selector(".nora-pacsquery[data-studies='1']", timeout=60_000)
    seq = q.locator(".nora-pq-sequences").inner_text()
    assert "in studies" in seq and "3D Ax T1" in seq.replace("_", " ")
    patient = q.locator(".nora-pq-patients tr[data-key]")
    assert patient.count() == 1
    patient.click()  # highlight that patient's examinations
    page.wait_for_selector(".nora-pq-studies tr.hl", timeout=30_000)
    q.locator(".nora-pq-studies tr[data-uid] input[type=checkbox]").check()
    q.locator(".nora-pq-pull").click()
    page.wait_for_selector(".nora-pacsquery[data-pulled='1'][data-running='0']", timeout=180_000)
    pulled = q.locator(".nora-pq-pulled tr[data-psid]")
    assert pulled.get_attribute("data-psid").startswith("dicom#")
    assert "imported" in pulled.inner_text()
    assert q.locator(".nora-pq-studies tr.in-project").count() == 1  # now in the project
    lab.shot(q, "pacsquery.png")
