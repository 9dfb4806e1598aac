"""Who you are on a PostgreSQL archive, and the roles that PostgreSQL knows.

On PostgreSQL the archive user *is* the database session's role: PostgreSQL authenticates
it (peer authentication over a local socket, a password in the user's own ``~/.pgpass``,
GSSAPI or certificates) and row-level security keyed on it decides what it sees
(migration ``v005_security``). No environment variable and no keyword changes it:

* ``Archive.open(url)`` is the role the connection logged in as;
* ``Archive.open(url, user="bob")`` and ``as_user("bob")`` run ``SET ROLE bob``, which
  PostgreSQL allows only to a member of ``bob`` — the archive's administrator role, which
  creates the login roles, is one; a lab user is not, and is refused by PostgreSQL.

Each archive database has two group roles, named after the database:

``<db>_users``   every lab user: may connect and use the tables (row-level security
                 then limits each to the projects they have a right on);
``<db>_admins``  the archive's administrators (see everything, manage users).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator

import sqlalchemy as sa

from nora_lab.errors import ConfigError, PermissionDenied

__all__ = ["group_roles", "me", "set_role", "ensure_login_role", "is_admin", "register",
           "quote", "new_password"]

_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.@-]{0,62}$")


def quote(name: str) -> str:
    """A role name as an SQL identifier (refusing what a login name never holds)."""
    if not _ROLE.match(name or ""):
        raise ConfigError(f"user name {name!r}: expected a login name (letters, digits, "
                          "'_', '.', '@', '-', at most 63 characters)")
    return '"' + name + '"'


def group_roles(conn: sa.Connection) -> tuple[str, str]:
    """``(<db>_users, <db>_admins)`` of the connected archive database."""
    db = conn.exec_driver_sql("SELECT current_database()").scalar_one()
    return f"{db}_users"[:63], f"{db}_admins"[:63]


def me(conn: sa.Connection) -> str:
    """The role the session acts as (``current_user``)."""
    return conn.exec_driver_sql("SELECT current_user").scalar_one()


def set_role(dbapi_conn: object, role: str) -> None:
    """``SET ROLE`` on a fresh connection; PostgreSQL refuses a role we are not a member of."""
    import psycopg

    try:
        with dbapi_conn.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(f"SET ROLE {quote(role)}")
        dbapi_conn.commit()  # type: ignore[attr-defined]
    except psycopg.Error as exc:
        dbapi_conn.rollback()  # type: ignore[attr-defined]
        raise PermissionDenied(
            f"cannot act as {role!r} on this archive: PostgreSQL says "
            f"{str(exc).strip().splitlines()[0]}. On PostgreSQL you are the role you log in "
            "as; connect with your own credentials") from None


@contextlib.contextmanager
def _as_login_role(conn: sa.Connection, what: str) -> Iterator[None]:
    """Run the block with the session's login role's own privileges (CREATEROLE: the
    archive's administrator role), even when the session acts as another role through
    ``SET ROLE``; only for this block's savepoint. A refusal becomes :class:`PermissionDenied`
    saying ``what`` could not be done."""
    acting = me(conn)
    try:
        with conn.begin_nested():
            conn.exec_driver_sql("SET LOCAL ROLE NONE")
            yield
            conn.exec_driver_sql(f"SET LOCAL ROLE {quote(acting)}")
    except sa.exc.DBAPIError as exc:
        raise PermissionDenied(
            f"cannot {what}: {str(exc.orig).strip().splitlines()[0]} (this needs the "
            "archive's administrator role)") from None


def ensure_login_role(conn: sa.Connection, name: str, *, admin: bool = False) -> None:
    """Create the login role ``name`` if missing, make it a lab user of this archive (and
    an administrator with ``admin``), and let the session act as it (``SET ROLE``).

    Needs the CREATEROLE privilege: the archive's administrator role has it.
    """
    users, admins = group_roles(conn)
    exists = conn.exec_driver_sql("SELECT 1 FROM pg_roles WHERE rolname = %(n)s",
                                  {"n": name}).first()
    with _as_login_role(conn, f"create or enrol the database role {name!r}"):
        if not exists:
            conn.exec_driver_sql(f"CREATE ROLE {quote(name)} LOGIN")
        conn.exec_driver_sql(f"GRANT {quote(users)} TO {quote(name)}")
        if admin:
            conn.exec_driver_sql(f"GRANT {quote(admins)} TO {quote(name)}")
        if me(conn) != name:
            conn.exec_driver_sql(f"GRANT {quote(name)} TO CURRENT_USER")


def new_password(conn: sa.Connection, name: str) -> str:
    """Give the login role ``name`` a fresh random password (SCRAM) and return it.

    Like :func:`ensure_login_role`, this uses the session's CREATEROLE (the archive's
    administrator role); PostgreSQL refuses anyone else.
    """
    password = secrets.token_urlsafe(24)
    with _as_login_role(conn, f"set a password for the database role {name!r}"):
        conn.exec_driver_sql("SET LOCAL password_encryption = 'scram-sha-256'")
        # a literal (ALTER ROLE takes no parameters); token_urlsafe has no quote
        conn.exec_driver_sql(f"ALTER ROLE {quote(name)} LOGIN PASSWORD '{password}'")
    return password


def is_admin(conn: sa.Connection) -> bool:
    """Is the session's role an administrator of this archive (or its owner)?"""
    _, admins = group_roles(conn)
    return bool(conn.exec_driver_sql(
        "SELECT pg_has_role(current_user, %(a)s, 'member') "
        "OR current_user = (SELECT tableowner FROM pg_tables WHERE tablename = 'projects' "
        "AND schemaname = current_schema())", {"a": admins}).scalar())


def register(conn: sa.Connection) -> None:
    """Record the session's role in the users table (``nora_register()``, which may add
    only the caller, never as an administrator)."""
    conn.exec_driver_sql("SELECT nora_register()")
