"""Pull from the other archives labs use: XNAT (REST, with the ``xnat`` package) and
Girder (with ``girder-client``).

>>> pull_xnat(proj, "https://xnat.example.org", "STUDY1", user="me")          # doctest: +SKIP
>>> pull_girder(proj, "https://girder.example.org/api/v1", "64ab…", "{subject}/{study}",
...             api_key="…")                                                  # doctest: +SKIP

XNAT: each experiment (session) of the XNAT project is downloaded
(``experiment.download_dir``: ``<label>/scans/<id>-<type>/resources/DICOM/files/*.dcm``)
into a temporary folder and imported with the DICOM import, like any folder of DICOM.
XNAT's own DICOM receiver takes pushes from :func:`nora_lab.archive.pacs.push` (configure
it as a node in ``pacs.yaml``); XNAT answers no C-FIND/C-MOVE, so pulling goes through
REST.

Girder: a folder is downloaded (``downloadFolderRecursive``) and adopted with
:func:`nora_lab.archive.adopt.adopt` and the pattern given.

Neither server runs in the test suite: the tests cover the import of an XNAT-shaped
download and the adoption of a Girder-shaped folder made in the test, and the errors for a
missing client package and an unreachable server (see ``docs/data-in-out.md``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nora_lab.errors import ConfigError, NotFoundError, PacsError

if TYPE_CHECKING:
    import pandas as pd

    from nora_lab.archive.project import Project

__all__ = ["pull_xnat", "pull_girder", "import_xnat_download"]


def _client(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"pulling from {package.split('-')[0].upper()} needs the "
                          f"{package!r} package: pip install {package}") from None


def pull_xnat(project: Project, server: str, xnat_project: str, *,
              experiments: Iterable[str] | None = None, user: str | None = None,
              password: str | None = None, dry_run: bool = False,
              keep_dicom: bool | None = None) -> list[Any]:
    """Download the experiments of an XNAT project and import their DICOM.

    Parameters
    ----------
    project
        The nora_lab project to import into.
    server, xnat_project
        The XNAT URL and the project's ID there.
    experiments
        Experiment labels (default: all of the project's).
    user, password
        XNAT credentials (default: ``~/.netrc``).
    dry_run
        Only list the experiments that would be pulled.
    keep_dicom
        Keep the originals (see :func:`nora_lab.archive.dicom.import_dicom`).

    Returns
    -------
    list
        The experiment labels (dry run), else one import report per experiment.

    Raises
    ------
    ConfigError
        The ``xnat`` package is not installed.
    PacsError
        The server cannot be reached or refuses the login.
    NotFoundError
        No such XNAT project or experiment.
    """
    xnat = _client("xnat", "xnat")
    try:
        session = xnat.connect(server, user=user, password=password, default_timeout=60)
    except Exception as exc:  # noqa: BLE001 - requests/xnat errors: say where and why
        raise PacsError(f"cannot connect to XNAT at {server}: {type(exc).__name__}: "
                        f"{exc}") from None
    with session:
        try:
            exps = session.projects[xnat_project].experiments
        except KeyError:
            raise NotFoundError(f"XNAT at {server} has no project {xnat_project!r} (or "
                                f"{user or 'you'} may not see it)") from None
        by_label = {e.label: e for e in exps.values()}
        wanted = list(experiments) if experiments is not None else sorted(by_label)
        missing = [w for w in wanted if w not in by_label]
        if missing:
            raise NotFoundError(f"XNAT project {xnat_project!r} has no experiment "
                                f"{missing[0]!r}")
        if dry_run:
            return wanted
        reports = []
        for label in wanted:
            with tempfile.TemporaryDirectory(prefix="nora-xnat-") as tmp:
                by_label[label].download_dir(tmp)
                reports.append(import_xnat_download(project, tmp, keep_dicom=keep_dicom))
        return reports


def import_xnat_download(project: Project, folder: str | Path, *,
                         keep_dicom: bool | None = None) -> Any:
    """Import an XNAT download (``<label>/scans/<scan>/resources/DICOM/files``): the DICOM
    files of every scan, through the DICOM import (non-DICOM resources are skipped)."""
    return project.import_dicom(Path(folder), keep_dicom=keep_dicom, progress=False)


def pull_girder(project: Project, api_url: str, folder_id: str,
                pattern: str = "{subject}/{study}/{series}", *, api_key: str | None = None,
                dry_run: bool = False, study: str = "1") -> pd.DataFrame:
    """Download a Girder folder and adopt it into ``project`` with ``pattern``.

    Returns :func:`~nora_lab.archive.adopt.adopt`'s table (a dry run downloads too, and
    registers nothing).

    Raises
    ------
    ConfigError
        ``girder-client`` is not installed.
    PacsError
        The server cannot be reached, refuses the key, or has no such folder.
    """
    from nora_lab.archive.adopt import adopt

    girder_client = _client("girder_client", "girder-client")
    with tempfile.TemporaryDirectory(prefix="nora-girder-") as tmp:
        try:
            gc = girder_client.GirderClient(apiUrl=api_url)
            if api_key:
                gc.authenticate(apiKey=api_key)
            gc.downloadFolderRecursive(folder_id, tmp)
        except Exception as exc:  # noqa: BLE001 - requests/girder errors: say where
            raise PacsError(f"cannot download folder {folder_id} from Girder at {api_url}: "
                            f"{type(exc).__name__}: {exc}") from None
        return adopt(project, tmp, pattern, study=study, dry_run=dry_run)
