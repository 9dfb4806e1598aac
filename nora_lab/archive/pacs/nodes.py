"""PACS nodes by name, and our own node's settings: NORA's ``pacs.conf`` as YAML.

Layered: the shipped ``pacs.yaml`` (next to this module), then ``$NORA_HOME/pacs.yaml``
(or ``$NORA_PACS``), then keyword arguments. The user file is YAML or JSON::

    local: {aet: NORA, port: 11112, quiet_period: 10, projects: {NORA_DEMO: demo}}
    nodes:
      PACS1: {aet: ORTHANC, host: pacs.example.org, port: 4242}
      WEB1: {transport: dicomweb, url: "https://pacs.example.org/dicom-web"}

From Python::

    cfg = pacs_config()
    cfg.add("PACS1", aet="ORTHANC", host="pacs.example.org", port=4242)
    cfg.save()
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nora_lab.errors import ConfigError, NotFoundError

__all__ = ["PacsNode", "LocalNode", "PacsConfig", "pacs_config", "get_node", "config_path"]

_SHIPPED = Path(__file__).with_name("pacs.yaml")
RETRIEVE = ("move", "get")
TRANSPORTS = ("dimse", "dicomweb")


def _check_aet(aet: Any, what: str) -> str:
    text = str(aet or "").strip()
    if not text or len(text) > 16 or "\\" in text or not text.isascii():
        raise ConfigError(f"{what}: AE title {aet!r} must be 1-16 ASCII characters "
                          "without backslash")
    return text


def _check_port(port: Any, what: str) -> int:
    try:
        value = int(port)
    except (TypeError, ValueError):
        value = -1
    if not 0 <= value <= 65535:
        raise ConfigError(f"{what}: port {port!r} is not a TCP port number (0-65535)")
    return value


@dataclass
class PacsNode:
    """A remote DICOM node (a PACS, a workstation, a modality) we query and send to.

    Parameters
    ----------
    name
        How it is called in nora_lab (``pull("PACS1", …)``).
    aet, host, port
        Its AE title and address.
    calling_aet
        Our AE title towards it (default: the local node's).
    retrieve
        ``"move"`` (C-MOVE to our node, the default) or ``"get"`` (C-GET).
    move_destination
        The AE title the PACS moves to (default: the local node's).
    max_associations
        Associations opened to it at once by a pull.
    timeout
        Network and DIMSE timeout in seconds.
    transport
        ``"dimse"`` (C-FIND/C-MOVE/C-GET/C-STORE, the default) or ``"dicomweb"``
        (QIDO-RS/WADO-RS/STOW-RS at ``url``; see :mod:`.dicomweb`).
    url
        The DICOMweb service's base URL (``transport="dicomweb"``), e.g.
        ``http://pacs:8042/dicom-web``.
    """

    name: str
    aet: str = ""
    host: str = "127.0.0.1"
    port: int = 104
    calling_aet: str | None = None
    retrieve: str = "move"
    move_destination: str | None = None
    max_associations: int = 2
    timeout: float = 30.0
    description: str = ""
    transport: str = "dimse"
    url: str | None = None

    def __post_init__(self) -> None:
        what = f"PACS node {self.name!r}"
        if self.transport not in TRANSPORTS:
            raise ConfigError(f"{what}: transport {self.transport!r}: expected 'dimse' or "
                              "'dicomweb'")
        if self.transport == "dicomweb":
            if not str(self.url or "").startswith(("http://", "https://")):
                raise ConfigError(f"{what}: transport 'dicomweb' needs url: the service's "
                                  f"base URL (http://host:port/dicom-web), got {self.url!r}")
            self.url = str(self.url).rstrip("/")
        if self.aet or self.transport == "dimse":
            self.aet = _check_aet(self.aet, what)
        self.port = _check_port(self.port, what)
        if self.calling_aet:
            self.calling_aet = _check_aet(self.calling_aet, what + " calling_aet")
        if self.move_destination:
            self.move_destination = _check_aet(self.move_destination,
                                               what + " move_destination")
        if self.retrieve not in RETRIEVE:
            raise ConfigError(f"{what}: retrieve {self.retrieve!r}: expected 'move' or 'get'")
        self.max_associations = max(1, int(self.max_associations))
        self.timeout = float(self.timeout)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("name")
        if d["transport"] == "dimse":
            d.pop("transport")
        return {k: v for k, v in d.items() if v not in (None, "")}


@dataclass
class LocalNode:
    """Our own DICOM node (the storage SCP of ``nora --node start``)."""

    aet: str = "NORA"
    host: str = "0.0.0.0"
    port: int = 11112
    incoming: str | None = None
    quiet_period: float = 10.0
    project: str | None = None
    projects: dict[str, str] = field(default_factory=dict)
    allowed_calling_aets: list[str] = field(default_factory=list)
    keep_dicom: bool | None = None
    autoexec: bool = True
    answer_find: bool = True

    def __post_init__(self) -> None:
        self.aet = _check_aet(self.aet, "local node")
        self.port = _check_port(self.port, "local node")
        self.quiet_period = float(self.quiet_period)
        if self.quiet_period < 0:
            raise ConfigError(f"local node: quiet_period {self.quiet_period} must be >= 0 s")
        self.projects = {_check_aet(k, "local node projects"): str(v)
                         for k, v in (self.projects or {}).items()}
        self.allowed_calling_aets = [_check_aet(a, "local node allowed_calling_aets")
                                     for a in self.allowed_calling_aets or []]

    def incoming_dir(self) -> Path:
        """``incoming``, else ``$NORA_HOME/incoming``."""
        from nora_lab.config import nora_home

        return Path(self.incoming).expanduser() if self.incoming else nora_home() / "incoming"

    def project_for(self, called: str, calling: str) -> str | None:
        """The project a study sent from ``calling`` to ``called`` goes to."""
        return self.projects.get(called.strip()) or self.projects.get(calling.strip()) \
            or self.project


def config_path() -> Path:
    """``$NORA_PACS``, else ``$NORA_HOME/pacs.yaml``."""
    from nora_lab.config import nora_home

    env = os.environ.get("NORA_PACS")
    return Path(env).expanduser() if env else nora_home() / "pacs.yaml"


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML/JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("nodes", {}) or {}, dict) \
            or not isinstance(data.get("local", {}) or {}, dict):
        raise ConfigError(f"{path}: expected a mapping with 'local' and 'nodes' mappings")
    return data


def _make(cls: type, what: str, values: Mapping[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{what}: unknown setting(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known - {'name'}))})")
    return cls(**values)


class PacsConfig:
    """The PACS nodes and local node settings, editable and saved back as YAML.

    Use :func:`pacs_config`; ``PacsConfig(path)`` reads a given file over the shipped
    defaults.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, **local: Any) -> None:
        self.path = Path(path) if path else config_path()
        shipped = _read(_SHIPPED)
        user = _read(self.path)
        self._user_local = {**(user.get("local") or {}), **local}
        self.local: LocalNode = _make(LocalNode, f"{self.path}: local",
                                      {**(shipped.get("local") or {}), **self._user_local,
                                       **local})
        self.nodes: dict[str, PacsNode] = {}
        for name, values in (user.get("nodes") or {}).items():
            if not isinstance(values, dict):
                raise ConfigError(f"{self.path}: node {name!r}: expected a mapping of "
                                  "aet, host, port, …")
            self.nodes[str(name)] = _make(PacsNode, f"{self.path}: node {name!r}",
                                          {**values, "name": str(name)})

    def __repr__(self) -> str:
        return f"<PacsConfig {self.path}: local {self.local.aet}:{self.local.port}, " \
               f"nodes {sorted(self.nodes)}>"

    def node(self, name: str) -> PacsNode:
        """The node called ``name``; :class:`NotFoundError` listing the known ones."""
        try:
            return self.nodes[name]
        except KeyError:
            raise NotFoundError(
                f"no PACS node {name!r} in {self.path} (known: "
                f"{', '.join(sorted(self.nodes)) or 'none'}); add it with "
                f"pacs_config().add({name!r}, aet=…, host=…, port=…) or "
                f"nora --pacs-add {name} AET HOST PORT") from None

    def add(self, name: str, aet: str = "", host: str = "127.0.0.1", port: int = 104, *,
            save: bool = False, **options: Any) -> PacsNode:
        """Add or replace a node (``save=True`` writes the file at once); a DICOMweb node
        needs only ``transport="dicomweb", url=…``."""
        node = _make(PacsNode, f"node {name!r}", {"name": name, "aet": aet, "host": host,
                                                  "port": port, **options})
        self.nodes[name] = node
        if save:
            self.save()
        return node

    def remove(self, name: str, *, save: bool = False) -> None:
        self.node(name)
        del self.nodes[name]
        if save:
            self.save()

    def set_local(self, *, save: bool = False, **values: Any) -> LocalNode:
        """Change settings of the local node (kept in the user file on :meth:`save`)."""
        self._user_local.update(values)
        merged = {**dataclasses.asdict(self.local), **values}
        self.local = _make(LocalNode, "local node", merged)
        if save:
            self.save()
        return self.local

    def to_dict(self) -> dict[str, Any]:
        return {"local": dict(self._user_local),
                "nodes": {n: node.to_dict() for n, node in sorted(self.nodes.items())}}

    def save(self) -> Path:
        """Write the user file atomically (temp name, then rename)."""
        from nora_lab.archive.layout import temp_beside

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with temp_beside(self.path) as tmp:
            tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
            os.replace(tmp, self.path)
        return self.path

    def to_frame(self) -> Any:
        """The nodes as a DataFrame (name, aet, host, port, retrieve, …)."""
        import pandas as pd

        cols = [f.name for f in dataclasses.fields(PacsNode)]
        return pd.DataFrame([dataclasses.asdict(n) for _, n in sorted(self.nodes.items())],
                            columns=cols)

    def calling_aet(self, node: PacsNode) -> str:
        return node.calling_aet or self.local.aet

    def move_destination(self, node: PacsNode) -> str:
        return node.move_destination or self.local.aet


def pacs_config(path: str | os.PathLike[str] | None = None, **local: Any) -> PacsConfig:
    """The PACS configuration (shipped defaults, then the user file, then ``local``)."""
    return PacsConfig(path, **local)


def get_node(node: PacsNode | str, config: PacsConfig | None = None) -> PacsNode:
    """``node`` itself, or the configured node of that name."""
    if isinstance(node, PacsNode):
        return node
    return (config or pacs_config()).node(node)
