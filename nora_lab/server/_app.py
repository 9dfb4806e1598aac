"""The extension's settings and its registration with the Jupyter server."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from traitlets import Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from nora_lab import config as nora_config
from nora_lab.server.uploads import Limits

__all__ = ["NoraServer", "load", "no_right_message"]


class NoraServer(LoggingConfigurable):
    """nora_lab's server extension settings (``c.NoraServer.<name>`` in a Jupyter config).

    The archive is the one every nora_lab call opens: ``$NORA_DB`` / ``$NORA_HOME`` and
    ``$NORA_ROOT``, which JupyterHub sets for every lab.
    """

    archive = Unicode("", help="Archive location (URL or NORA home); empty: $NORA_DB / "
                      "$NORA_HOME, as Archive.open()").tag(config=True)
    storage_root = Unicode("", help="Storage root; empty: the archive's, or $NORA_ROOT"
                           ).tag(config=True)
    user = Unicode("", help="The archive user of a lab not run by JupyterHub, set by whoever "
                   "starts the server (never read from the environment); empty: the OS "
                   "account").tag(config=True)
    import_dir = Unicode(help="Where REST import jobs keep their uploads and states "
                         "(default $NORA_HOME/imports)").tag(config=True)
    import_max_bytes = Integer(help="Largest upload accepted, in bytes "
                               "(default $NORA_IMPORT_MAX_BYTES or 2 GiB)").tag(config=True)
    import_max_unzipped = Integer(help="Largest unpacked size of an upload, in bytes "
                                  "(default $NORA_IMPORT_MAX_UNZIPPED or 16 GiB)").tag(config=True)
    import_max_files = Integer(help="Most entries in an uploaded zip "
                               "(default $NORA_IMPORT_MAX_FILES or 200000)").tag(config=True)
    import_concurrency = Integer(1, help="REST imports running at once per lab; the "
                                 "others wait queued").tag(config=True)
    import_warm_seconds = Integer(600, help="Seconds an import worker, started when an "
                                  "upload begins or a job ends, waits for the next job "
                                  "(0: start workers only for a job)").tag(config=True)
    links_dir = Unicode("nora-links", help="Folder (in the lab's root) for the notebooks "
                        "links open").tag(config=True)
    share_max_bytes = Integer(1 << 20, help="Largest shared viewer state, in bytes"
                              ).tag(config=True)

    @default("import_dir")
    def _import_dir(self) -> str:
        return str(nora_config.nora_home() / "imports")

    @default("import_max_bytes")
    def _max_bytes(self) -> int:
        return Limits.from_env().max_upload

    @default("import_max_unzipped")
    def _max_unzipped(self) -> int:
        return Limits.from_env().max_unzipped

    @default("import_max_files")
    def _max_files(self) -> int:
        return Limits.from_env().max_members

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock = threading.Lock()
        self._base: Any = None
        self._archives: dict[str, Any] = {}
        self._jobs: Any = None

    @property
    def limits(self) -> Limits:
        return Limits(self.import_max_bytes, self.import_max_unzipped, self.import_max_files)

    @property
    def jobs(self) -> Any:
        from nora_lab.server.imports import ImportJobs

        if self._jobs is None:
            self._jobs = ImportJobs(Path(self.import_dir), location=self.archive or None,
                                    storage_root=self.storage_root or None,
                                    concurrency=self.import_concurrency,
                                    warm_seconds=self.import_warm_seconds)
        return self._jobs

    def archive_as(self, user: str) -> Any:
        """The archive opened as ``user`` (one database engine shared by all users)."""
        from nora_lab.archive import Archive

        with self._lock:
            arc = self._archives.get(user)
            if arc is None:
                if self._base is None:
                    self._base = Archive.open(self.archive or None,
                                              root=self.storage_root or None, user=user)
                    arc = self._base
                else:
                    arc = self._base.as_user(user)
                self._archives[user] = arc
            return arc

    def project(self, user: str, name: str) -> Any:
        """``user``'s view of project ``name``; NotFoundError if they have no right on it."""
        return self.archive_as(user).project(name)

    async def project_async(self, user: str, name: str) -> Any:
        return await asyncio.to_thread(self.project, user, name)


def no_right_message(user: str, project: str) -> str:
    return (f"user {user!r} has no right on project {project!r} (or it does not exist). "
            f"Ask one of the project's admins to grant you access: "
            f"nora -p {project} --grant {user} reader")


def load(serverapp: Any) -> None:
    """Register the handlers (called by ``_load_jupyter_server_extension``)."""
    from jupyter_server.utils import url_path_join

    from nora_lab.server import _handlers as h

    nora = NoraServer(parent=serverapp)
    web_app = serverapp.web_app
    web_app.settings["nora"] = nora
    web_app.settings["nora_root_dir"] = os.path.abspath(os.path.expanduser(serverapp.root_dir))
    base = web_app.settings["base_url"]
    web_app.add_handlers(".*$", [
        (url_path_join(base, r"nora/open"), h.OpenHandler),
        (url_path_join(base, r"nora/api/share"), h.ShareHandler),
        (url_path_join(base, r"nora/api/import"), h.ImportHandler),
        (url_path_join(base, r"nora/api/import/([0-9a-f]{32})"), h.ImportStateHandler),
        (url_path_join(base, r"nora/static/viewer-([0-9a-f]{16}|unbuilt)\.js"),
         h.ViewerModuleHandler),
    ])
    serverapp.log.info("nora_lab server extension: links at %snora/open, DICOM import at "
                       "%snora/api/import (archive %s)", base, base,
                       nora.archive or os.environ.get("NORA_DB") or "$NORA_HOME")

