"""The dicom_instances table and its migration, the ``--import`` flags, the demo archive."""

from __future__ import annotations

import argparse

import pytest
import sqlalchemy as sa

from nora_lab.archive.dicom.cli import add_arguments, run
from nora_lab.errors import ConfigError, DicomImportError


def test_migration_v002_adds_the_table_to_a_v1_archive(url):
    from nora_lab.archive import Archive, _db, _schema
    from nora_lab.archive.dicom._tables import dicom_instances

    engine = _db.make_engine(url)
    v1_tables = [t for t in _schema.metadata.sorted_tables if t is not dicom_instances]
    with _db.write(engine) as conn:
        _schema.metadata.create_all(conn, tables=v1_tables)
        conn.execute(sa.insert(_schema.settings).values(key="schema_version", value="1"))
    assert not sa.inspect(engine).has_table("dicom_instances")
    engine.dispose()

    arc = Archive.open(url, user="alice")
    try:
        insp = sa.inspect(arc.engine)
        assert insp.has_table("dicom_instances")
        assert {"ix_dicom_instances_series", "ix_dicom_instances_study"} <= {
            i["name"] for i in insp.get_indexes("dicom_instances")}
        with _db.read(arc.engine) as conn:
            assert _db.schema_version(conn) >= 2
    finally:
        arc.close()


def test_rows_go_with_their_study(project, dicom_dir):
    from nora_lab.archive import _db
    from nora_lab.archive.dicom import import_dicom
    from nora_lab.archive.dicom._tables import dicom_instances

    src = dicom_dir / "dcm_qa_nih" / "In" / "20180918Si"
    import_dicom(project, src, progress=False)
    count = sa.select(sa.func.count()).select_from(dicom_instances)
    with _db.read(project.archive.engine) as conn:
        assert conn.execute(count).scalar() == 8
    project.delete_study("DEV#1")
    with _db.read(project.archive.engine) as conn:
        assert conn.execute(count).scalar() == 0
    again = import_dicom(project, src, progress=False)
    assert again.count("converted") == 4


def _parse(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("-p", "--project")
    add_arguments(ap)
    return ap.parse_args(argv)


def test_cli_import_with_nora_flags(archive, project, dicom_dir, capsys):
    src = dicom_dir / "dcm_qa_nih" / "In" / "20180918Si"
    args = _parse(["-p", "p", "--import", str(src), "--patients_id", "PIZ",
                   "--studies_id", "SID", "--extrafiles_filter", "txt", "--handle_job_result"])
    assert run(args, archive) is True
    out = capsys.readouterr().out
    assert "4 converted" in out and out.rstrip().endswith("DONE")
    assert project.study("PIZ#SID")["study"] == "SID"
    assert run(_parse(["-p", "p"]), archive) is False
    with pytest.raises(ConfigError, match="needs a project"):
        run(_parse(["--import", str(src)]), archive)


def test_cli_nonzero_exit_when_a_series_fails(archive, project, tmp_path, monkeypatch):
    from nora_lab.archive.dicom import importer

    def failing(*a, **k):
        from nora_lab.archive.dicom.report import ImportReport, SeriesReport

        rep = ImportReport("p", "x")
        rep.series.append(SeriesReport("a#b", "1_x", "1", 1, "x", 1, status="failed"))
        return rep

    monkeypatch.setattr(importer, "import_dicom", failing)
    with pytest.raises(DicomImportError, match="could not be"):
        run(_parse(["-p", "p", "--import", str(tmp_path)]), archive)


def test_nora_command_knows_import(dicom_dir, tmp_path, monkeypatch, capsys):
    from nora_lab.cli import main

    monkeypatch.setenv("NORA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("NORA_DB", raising=False)
    monkeypatch.delenv("NORA_ROOT", raising=False)
    assert main(["-c", "cli"]) == 0
    assert main(["-p", "cli", "--import", str(dicom_dir / "dcm_qa_ts" / "In" / "1.dcm")]) == 0
    assert "1 converted" in capsys.readouterr().out


def test_demo_archive(tmp_path):
    from nora_lab.archive import Archive
    from nora_lab.archive.dicom import build_demo_archive

    report = build_demo_archive(tmp_path / "home")
    assert report.ok and report.count("converted") == 4, str(report)
    arc = Archive.open(tmp_path / "home")
    try:
        files = arc.project("demo").files()
        assert (files["filetype"] == "nifti").sum() == 5
        assert files["path"].str.endswith(".bval").sum() == 2
    finally:
        arc.close()
    assert build_demo_archive(tmp_path / "home").count("already imported") == 4
