"""nora_lab's Jupyter server extension: links into the archive and DICOM import over HTTP.

Every lab (a plain ``jupyter lab`` or a JupyterHub user's server) serves, under its
base URL:

=================================  ===================================================
``GET  nora/open?project=P&call=``  NORA's URL call ``{"pid":…,"sid":…,"preset":…}``:
                                    writes a notebook that opens the study and
                                    redirects JupyterLab to it (:mod:`.links`;
                                    the notebook runs :mod:`nora_lab.widgets.links`)
``GET  nora/open?project=P&share=`` a shared link: the viewer state saved by
                                    :func:`nora_lab.widgets.share`
                                    (``project.put_json("share", id, …)``)
``POST nora/api/share?project=P``   save a viewer state sent as JSON; answers the link
``POST nora/api/import?project=P``  a zip of DICOM (raw body or multipart), checked
                                    before anything is written (:mod:`.uploads`), then
                                    imported in a background process (:mod:`.imports`)
``GET  nora/api/import/<id>``       the import job's state
=================================  ===================================================

Every request is authenticated by Jupyter (under JupyterHub: the hub's OAuth cookie or an
``Authorization: token …`` header); a ``?token=`` in the URL is refused on these routes.
The archive is opened as the authenticated hub user (else ``c.NoraServer.user`` / the OS
account; never an environment variable), so the archive's rights decide: a user without a
right on a project is answered 403 and nothing is written.

The extension is enabled by ``jupyter-config/jupyter_server_config.d/nora_lab.json``,
installed into ``<prefix>/etc/jupyter``. Settings (``c.NoraServer.…`` in a Jupyter config,
or the environment variables named in :class:`~nora_lab.server._app.NoraServer`).

The hub side (batchspawner options, validation) is :mod:`nora_lab.server.spawner`, loaded
only by ``jupyterhub_config.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nora_lab._lazy import lazy_names

__all__ = ["link_url", "save_share", "check_zip", "UploadRejected", "Limits"]

_WHERE = {
    "link_url": "links", "save_share": "links",
    "check_zip": "uploads", "UploadRejected": "uploads", "Limits": "uploads",
}

#: the kernel's side of links moved to nora_lab.widgets.links: the server extension never
#: loads a widget (old notebooks that say ``from nora_lab.server import open_link`` warn)
_MOVED = {name: f"nora_lab.widgets.links:{name}" for name in
          ("share", "viewer_state", "restore_viewer", "open_link", "preset_loaders")}

if TYPE_CHECKING:  # pragma: no cover
    from nora_lab.server.links import link_url, save_share
    from nora_lab.server.uploads import Limits, UploadRejected, check_zip


__getattr__, __dir__ = lazy_names(__name__, _WHERE, __all__, deprecated=_MOVED)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "nora_lab.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from nora_lab.server._app import load

    load(serverapp)
