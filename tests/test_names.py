"""Names that say what they hold; renamed and moved names keep working, with a warning."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(("module", "old", "new_module", "new"), [
    ("nora_lab.archive.dicom", "on_study_imported", "nora_lab.archive.dicom",
     "study_imported_hooks"),
    ("nora_lab.archive.dicom.importer", "on_study_imported", "nora_lab.archive.dicom.importer",
     "study_imported_hooks"),
    ("nora_lab.archive.jobs", "table", "nora_lab.archive.job_states", "table"),
    ("nora_lab.archive.jobs", "STATES", "nora_lab.archive.job_states", "STATES"),
    ("nora_lab.archive.pacs.peers", "OrthancServer", "nora_lab.testing.pacs", "OrthancServer"),
    ("nora_lab.archive.pacs.peers", "dcmtk", "nora_lab.testing.pacs", "dcmtk"),
    ("nora_lab.server", "open_link", "nora_lab.widgets.links", "open_link"),
    ("nora_lab.server", "share", "nora_lab.widgets.links", "share"),
    ("nora_lab.server.links", "restore_viewer", "nora_lab.widgets.links", "restore_viewer"),
    ("nora_lab.imaging", "keep", "nora_lab.imaging", "keep_streamlines"),
    ("nora_lab.imaging", "track", "nora_lab.imaging", "track_streamlines"),
    ("nora_lab.imaging.fibers", "delete", "nora_lab.imaging.fibers", "delete_streamlines"),
    ("nora_lab.imaging.morphology", "clear", "nora_lab.imaging.morphology", "clear_roi"),
])
def test_an_old_name_warns_and_gives_the_new_one(module, old, new_module, new):
    value = getattr(importlib.import_module(new_module), new)
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{old} is deprecated; use .*{new}"):
        assert getattr(importlib.import_module(module), old) is value


def test_the_hook_list_and_the_batch_hook_have_their_own_names():
    from nora_lab.archive.dicom import study_imported_hooks
    from nora_lab.batch import on_study_imported

    assert isinstance(study_imported_hooks, list) and callable(on_study_imported)


def test_job_states_are_an_enum_of_noras_letters():
    from nora_lab.archive import filters, job_states
    from nora_lab.archive.job_states import JobState
    from nora_lab.widgets.table import JOB_LETTERS

    assert [s.value for s in JobState] == ["q", "r", "e", "d", "k"]
    assert JobState.ERROR == "e" and JobState("k") is JobState.KILLED
    assert job_states.STATES == {"q": "queued", "r": "running", "e": "error", "d": "done",
                                 "k": "killed"}
    # the light modules that spell the letters out agree with the enum
    assert filters.JOB_STATES == job_states.STATES and JOB_LETTERS == tuple(JobState)
    assert set(job_states.ACTIVE) | set(job_states.FINISHED) == set(JobState)


def test_the_job_state_module_and_the_job_module_have_different_names():
    import nora_lab.archive.job_states as states
    import nora_lab.batch.jobs as jobs

    assert hasattr(states, "JobState") and hasattr(jobs, "Job")
