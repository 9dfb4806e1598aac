"""Version 6: on PostgreSQL, a file pattern is matched through its index under row-level security.

``LIKE`` is not leakproof, so under row-level security PostgreSQL tests a lab user's
``path_lc LIKE '%flair%'`` only after the policy's condition, row by row: neither the
pg_trgm index nor a B-tree serves it, and every file row of the project is read.
``nora_file_studies(project, pattern)`` runs the match as the table's owner, planned for
the pattern at hand (``EXECUTE … USING``), and only for a project on which the acting role
has the reader right (:func:`nora_projects`, as the policies use): for any other project
it returns nothing, as the policy would. It returns the ids of the studies having a
matching file. SQLite is single-user: nothing to do there. Frozen DDL.
"""

from __future__ import annotations

import sqlalchemy as sa

from nora_lab.archive import _pg

FUNCTION = r"""
CREATE OR REPLACE FUNCTION nora_file_studies(p_project int, p_like text) RETURNS SETOF int
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public ROWS 2000 AS $$
BEGIN
  IF p_project = ANY (nora_projects('reader')) THEN
    RETURN QUERY EXECUTE
      'SELECT DISTINCT study FROM files WHERE project_id = $1 AND path_lc LIKE $2'
      USING p_project, p_like;
  END IF;
END
$$
"""


def install(conn: sa.Connection) -> None:
    """The function, executable by the archive's lab users (PostgreSQL; idempotent)."""
    if conn.dialect.name != "postgresql":
        return
    users, _ = _pg.group_roles(conn)
    conn.exec_driver_sql(FUNCTION)
    conn.exec_driver_sql("REVOKE ALL ON FUNCTION nora_file_studies(int, text) FROM PUBLIC")
    conn.exec_driver_sql(
        f"GRANT EXECUTE ON FUNCTION nora_file_studies(int, text) TO {_pg.quote(users)}")


def on_create(conn: sa.Connection) -> None:
    install(conn)


def upgrade(op) -> None:  # noqa: ANN001 - alembic.operations.Operations
    install(op.get_bind())
