"""Version 5: on PostgreSQL, the database enforces the rights (row-level security).

Run as the archive's administrator role (the schema's owner, with CREATEROLE). It makes
the group roles ``<db>_users`` and ``<db>_admins`` (:mod:`nora_lab.archive._pg`), gives
lab users the table privileges and nothing more (no CREATE in the schema, no other
database), and turns on row-level security on every table holding project data, keyed on
the acting role and the ``rights`` table:

=====================  ===============================  ==================================
table                  read                             write
=====================  ===============================  ==================================
projects               projects with a right            admins of it; any user creates one
                                                        through nora_create_project()
rights                 readers of the project           project admins
users, nora_settings   everyone                         archive administrators
subjects, studies,     readers of the project           editors of the project
files, jobs,
json_store,
dicom_instances
tags (3 tables)        readers of the row's project     editors of the row's project
identities             real projects' readers, and      editors (the import writes them)
                       users with the identity right
reading_results        readers of the project           readers, as themselves only
=====================  ===============================  ==================================

Archive administrators (members of ``<db>_admins``) pass every policy. The table owner
(the administrator role itself) is not subject to them. SQLite is single-user: nothing to
do there. Frozen DDL: this is the change as made in version 5.
"""

from __future__ import annotations

import sqlalchemy as sa

from nora_lab.archive import _pg

PROJECT_TABLES = ("subjects", "studies", "files", "jobs", "json_store", "dicom_instances")

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION nora_me() RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN current_setting('role') = 'none' THEN session_user::text
              ELSE current_setting('role') END
$$;

CREATE OR REPLACE FUNCTION nora_is_admin() RETURNS boolean LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public AS $$
  SELECT pg_has_role(nora_me(), (SELECT value FROM nora_settings WHERE key = 'pg_admins'),
                     'member')
$$;

-- the projects on which the acting role has at least `min_role`
CREATE OR REPLACE FUNCTION nora_projects(min_role text) RETURNS int[] LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public AS $$
  SELECT CASE WHEN nora_is_admin() THEN (SELECT coalesce(array_agg(id), '{}') FROM projects)
  ELSE (SELECT coalesce(array_agg(r.project_id), '{}') FROM rights r
        JOIN users u ON u.id = r.user_id
        WHERE u.name = nora_me()
          AND array_position(ARRAY['reader', 'editor', 'admin'], r.role)
              >= array_position(ARRAY['reader', 'editor', 'admin'], min_role))
  END
$$;

-- the projects whose real identities the acting role may see
CREATE OR REPLACE FUNCTION nora_identity_projects() RETURNS int[] LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = public AS $$
  SELECT CASE WHEN nora_is_admin() THEN (SELECT coalesce(array_agg(id), '{}') FROM projects)
  ELSE (SELECT coalesce(array_agg(r.project_id), '{}') FROM rights r
        JOIN users u ON u.id = r.user_id JOIN projects p ON p.id = r.project_id
        WHERE u.name = nora_me() AND (r.identity OR p.naming = 'real' OR r.role = 'admin'))
  END
$$;

-- the pseudonym of a real ID, for an editor who imports without the identity right
CREATE OR REPLACE FUNCTION nora_pseudonym(p_project int, p_real text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT s.subject_id FROM identities i JOIN subjects s ON s.id = i.subject
  WHERE i.project_id = p_project AND i.real_id = p_real
    AND p_project = ANY (nora_projects('editor'))
$$;

-- a user records themselves (never as an administrator)
CREATE OR REPLACE FUNCTION nora_register() RETURNS void LANGUAGE sql VOLATILE
SECURITY DEFINER SET search_path = public AS $$
  INSERT INTO users (name, is_admin) VALUES (nora_me(), false) ON CONFLICT (name) DO NOTHING
$$;

-- a registered user creates a project and becomes its admin
CREATE OR REPLACE FUNCTION nora_create_project(pname text, pnaming text) RETURNS int
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE pk int; uid int;
BEGIN
  SELECT id INTO uid FROM users WHERE name = nora_me();
  IF uid IS NULL THEN
    RAISE EXCEPTION USING MESSAGE = 'user ' || nora_me() || ' is not registered here';
  END IF;
  INSERT INTO projects (name, naming) VALUES (pname, pnaming) RETURNING id INTO pk;
  INSERT INTO rights (project_id, user_id, role, identity) VALUES (pk, uid, 'admin', true);
  RETURN pk;
END $$;
"""

# a scalar subquery: the array is computed once per statement (an InitPlan), not per row
READ = "((SELECT nora_projects('reader'))::int[])"
EDIT = "((SELECT nora_projects('editor'))::int[])"
ADMIN = "((SELECT nora_projects('admin'))::int[])"


def _policies() -> list[str]:
    out = [
        f"CREATE POLICY nora_read ON projects FOR SELECT USING (id = ANY {READ})",
        # users create projects through nora_create_project(), administrators directly
        "CREATE POLICY nora_create ON projects FOR INSERT WITH CHECK (nora_is_admin())",
        f"CREATE POLICY nora_change ON projects FOR UPDATE USING (id = ANY {ADMIN})",
        f"CREATE POLICY nora_drop ON projects FOR DELETE USING (id = ANY {ADMIN})",
        f"CREATE POLICY nora_read ON rights FOR SELECT USING (project_id = ANY {READ})",
        f"CREATE POLICY nora_write ON rights FOR ALL USING (project_id = ANY {ADMIN}) "
        f"WITH CHECK (project_id = ANY {ADMIN})",
        "CREATE POLICY nora_read ON users FOR SELECT USING (true)",
        "CREATE POLICY nora_write ON users FOR ALL USING (nora_is_admin()) "
        "WITH CHECK (nora_is_admin())",
        "CREATE POLICY nora_read ON nora_settings FOR SELECT USING (true)",
        "CREATE POLICY nora_write ON nora_settings FOR ALL USING (nora_is_admin()) "
        "WITH CHECK (nora_is_admin())",
        "CREATE POLICY nora_read ON identities FOR SELECT "
        "USING (project_id = ANY ((SELECT nora_identity_projects())::int[]))",
        f"CREATE POLICY nora_write ON identities FOR INSERT WITH CHECK (project_id = ANY {EDIT})",
        f"CREATE POLICY nora_change ON identities FOR UPDATE USING (project_id = ANY {EDIT})",
        f"CREATE POLICY nora_drop ON identities FOR DELETE USING (project_id = ANY {EDIT})",
        f"CREATE POLICY nora_read ON reading_results FOR SELECT USING (project_id = ANY {READ})",
        f"CREATE POLICY nora_write ON reading_results FOR INSERT "
        f"WITH CHECK (project_id = ANY {READ} AND entered_by = nora_me())",
        f"CREATE POLICY nora_change ON reading_results FOR UPDATE USING (project_id = ANY {EDIT})",
        f"CREATE POLICY nora_drop ON reading_results FOR DELETE USING (project_id = ANY {EDIT})",
    ]
    for table in PROJECT_TABLES:
        out += [f"CREATE POLICY nora_read ON {table} FOR SELECT USING (project_id = ANY {READ})",
                f"CREATE POLICY nora_write ON {table} FOR ALL USING (project_id = ANY {EDIT}) "
                f"WITH CHECK (project_id = ANY {EDIT})"]
    for table, col, parent in (("subject_tags", "subject", "subjects"),
                               ("study_tags", "study", "studies"),
                               ("file_tags", "file", "files")):
        owner = f"(SELECT p.project_id FROM {parent} p WHERE p.id = {table}.{col})"
        out += [f"CREATE POLICY nora_read ON {table} FOR SELECT USING ({owner} = ANY {READ})",
                f"CREATE POLICY nora_write ON {table} FOR ALL USING ({owner} = ANY {EDIT}) "
                f"WITH CHECK ({owner} = ANY {EDIT})"]
    return out


TABLES = ("projects", "rights", "users", "nora_settings", "identities", "reading_results",
          *PROJECT_TABLES, "subject_tags", "study_tags", "file_tags")


def install(conn: sa.Connection) -> None:
    """Roles, privileges, functions and policies (PostgreSQL; idempotent)."""
    if conn.dialect.name != "postgresql":
        return
    users, admins = _pg.group_roles(conn)
    for role in (users, admins):
        if not conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %(r)s",
                                    {"r": role}).first():
            conn.exec_driver_sql(f"CREATE ROLE {_pg.quote(role)} NOLOGIN")
    conn.exec_driver_sql(f"GRANT {_pg.quote(users)} TO {_pg.quote(admins)}")
    conn.exec_driver_sql(f"GRANT {_pg.quote(admins)} TO CURRENT_USER")
    for key, value in (("pg_users", users), ("pg_admins", admins)):
        conn.exec_driver_sql("INSERT INTO nora_settings (key, value) VALUES (%(k)s, %(v)s) "
                             "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                             {"k": key, "v": value})
    db = conn.exec_driver_sql("SELECT current_database()").scalar_one()
    q = _pg.quote
    for stmt in (
        f'REVOKE ALL ON DATABASE "{db}" FROM PUBLIC',
        f'GRANT CONNECT, TEMPORARY ON DATABASE "{db}" TO {q(users)}',
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE ON SCHEMA public TO {q(users)}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q(users)}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q(users)}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE "
        f"ON TABLES TO {q(users)}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES "
        f"TO {q(users)}",
    ):
        conn.exec_driver_sql(stmt)
    for block in FUNCTIONS.split("\n\n"):  # one statement each (extended protocol)
        if block.strip():
            conn.exec_driver_sql(block)
    for table in TABLES:
        conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        for (name,) in conn.exec_driver_sql(
                "SELECT policyname FROM pg_policies WHERE tablename = %(t)s", {"t": table}):
            conn.exec_driver_sql(f'DROP POLICY "{name}" ON {table}')
    for stmt in _policies():
        conn.exec_driver_sql(stmt)
    conn.exec_driver_sql(f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {q(users)}")


def on_create(conn: sa.Connection) -> None:
    install(conn)


def upgrade(op) -> None:  # noqa: ANN001 - alembic.operations.Operations
    install(op.get_bind())
