"""NORA's JSON store: saved batches, autoloaders, shares, settings (a mixin of :class:`Project`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from nora_lab.archive import _db
from nora_lab.archive import _schema as t
from nora_lab.errors import NotFoundError

if TYPE_CHECKING:
    import pandas as pd


if TYPE_CHECKING:  # the host's attributes, for the type checker (see _host)
    from nora_lab.archive._host import ProjectHost
else:
    ProjectHost = object


class JsonStoreMixin(ProjectHost):
    """JSON documents of a kind, saved by name per project."""

    def put_json(self, kind: str, name: str, obj: Any) -> None:
        """Save a JSON document of a kind (``batch``, ``autoloader``, ``share`` …) by name."""
        self._require("editor", f"saving a {kind}")
        j = t.json_store
        with _db.write(self._engine) as conn:
            conn.execute(sa.delete(j).where(j.c.project_id == self.pk, j.c.kind == kind,
                                            j.c.name == name))
            conn.execute(sa.insert(j).values(project_id=self.pk, kind=kind, name=name,
                                             user_name=self.archive.user, content=obj))

    def get_json(self, kind: str, name: str) -> Any:
        j = t.json_store
        with _db.read(self._engine) as conn:
            row = conn.execute(sa.select(j.c.content).where(
                j.c.project_id == self.pk, j.c.kind == kind, j.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no {kind} named {name!r} in project {self.name!r}")
        return row.content

    def list_json(self, kind: str) -> pd.DataFrame:
        import pandas as pd

        j = t.json_store
        with _db.read(self._engine) as conn:
            return pd.read_sql(sa.select(j.c.name, j.c.user_name.label("user"), j.c.modified)
                               .where(j.c.project_id == self.pk, j.c.kind == kind)
                               .order_by(j.c.name), conn)

    def delete_json(self, kind: str, name: str) -> None:
        self._require("editor", f"deleting a {kind}")
        j = t.json_store
        with _db.write(self._engine) as conn:
            conn.execute(sa.delete(j).where(j.c.project_id == self.pk, j.c.kind == kind,
                                            j.c.name == name))

