"""The archive: one database and one storage root, opened as one user.

>>> arc = Archive.open("/tmp/demo-home", user="alice")   # doctest: +SKIP
>>> proj = arc.create_project("demo")                     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from nora_lab import config
from nora_lab.archive import _db, _pg, fsrights
from nora_lab.archive import _schema as t
from nora_lab.archive._ids import RESERVED_PREFIX
from nora_lab.archive.project import ROLES, Project
from nora_lab.errors import (
    AlreadyExistsError,
    ArchiveError,
    ConfigError,
    NotFoundError,
    PermissionDenied,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Archive"]

_PROJECT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def _resolve_location(location: str | Path | None, root: str | Path | None) -> tuple[str, Path | None]:
    """Turn what the user gave into (database URL, storage root or None = from settings)."""
    if location is None:
        home = config.nora_home()
        return config.default_db_url(home), Path(root) if root else None
    text = str(location)
    if "://" in text:
        return text, Path(root) if root else None
    path = Path(text).expanduser().resolve()
    if path.suffix in (".sqlite", ".db", ".sqlite3"):
        return f"sqlite:///{path}", Path(root) if root else path.parent / "data"
    # a directory: a NORA home
    return f"sqlite:///{path / 'archive.sqlite'}", Path(root) if root else path / "data"


#: Seconds a statement of :meth:`Archive.sql` (``nora -q``) may run.
SQL_TIMEOUT_S = 60.0


def _no_files(action: int, *args: object) -> int:
    """SQLite authorizer: refuse ATTACH (also behind VACUUM INTO) and DETACH."""
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _sql_message(exc: BaseException, timeout: float) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "interrupted" in text or "statement timeout" in text:
        return f"stopped after {timeout:g} s (the time limit of a statement)"
    if "not authorized" in text or "authorization denied" in text:
        return "statements that create or attach database files are refused"
    return text


def _past(timeout: float) -> Callable[[], int]:
    """An SQLite progress handler that stops the statement once ``timeout`` s have passed."""
    deadline = time.monotonic() + timeout
    return lambda: int(time.monotonic() > deadline)


@contextlib.contextmanager
def _time_limit(conn: sa.Connection, timeout: float) -> Iterator[None]:
    """Stop a statement after ``timeout`` seconds on either backend."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
        yield
        return
    raw = conn.connection.driver_connection
    raw.set_progress_handler(_past(timeout), 10_000)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def _sqlite_owner(engine: sa.Engine) -> str:
    """The OS account of a single-user archive; refuse another (root aside)."""
    me = config.current_user()
    db = engine.url.database
    if not db or db == ":memory:" or not os.path.exists(db):
        return me
    uid = os.stat(db).st_uid
    if uid != os.geteuid() and os.geteuid() != 0:
        import pwd

        try:
            owner = pwd.getpwuid(uid).pw_name
        except KeyError:
            owner = f"uid {uid}"
        raise PermissionDenied(
            f"{db} belongs to {owner}: an embedded (SQLite) archive is single-user, and you "
            f"are {me}. To share an archive between users, use PostgreSQL (docs/deploy.md)")
    return me


def _stored_root(conn: sa.Connection, root_path: Path | None) -> str:
    stored = conn.execute(sa.select(t.settings.c.value).where(
        t.settings.c.key == "root")).scalar()
    if stored is None:
        stored = str((root_path or config.default_root()).resolve())
        _db.insert_ignore(conn, t.settings, [{"key": "root", "value": stored}])
    return stored


def _root(root_path: Path | None, stored: str) -> Path:
    root = Path(root_path or stored).resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


class Archive:
    """A nora_lab archive, opened as one user.

    Use :meth:`open`; the constructor is internal.
    """

    def __init__(self, engine: sa.Engine, root: Path, user: str, user_pk: int, is_admin: bool):
        self.engine = engine
        self.root = root
        self.user = user
        self._user_pk = user_pk
        self.is_admin = is_admin

    # --- opening -------------------------------------------------------------------
    @classmethod
    def open(cls, location: str | Path | None = None, *, root: str | Path | None = None,
             user: str | None = None) -> Archive:
        """Open (and on first use create) an archive.

        Who you are comes from the operating system and the database, never from an
        environment variable:

        * **PostgreSQL** (a lab's shared archive): you are the role your connection logged
          in as (PostgreSQL authenticates it: peer authentication, your own ``~/.pgpass``,
          GSSAPI). ``user=`` runs ``SET ROLE``, which PostgreSQL allows only to members of
          that role (the archive's administrator role, which creates the users); row-level
          security then decides what the role sees and changes.
        * **SQLite** (embedded, single-user): the archive belongs to the OS account that
          owns its file; another account (root aside) is refused. You are that account,
          an administrator of it. ``user=`` names other users *inside* a single-user
          archive (for trying rights out); it is no security boundary: whoever can write
          the file can change anything in it.

        Parameters
        ----------
        location
            ``None``: ``$NORA_DB`` or ``$NORA_HOME/archive.sqlite``; a directory: a NORA
            home holding ``archive.sqlite`` and ``data/``; a ``.sqlite`` file; or an
            SQLAlchemy URL (``sqlite:///…``, ``postgresql://…``).
        root
            The storage root. Default: the one recorded when the archive was created,
            else ``$NORA_ROOT`` or ``$NORA_HOME/data``.
        user
            Act as this user (see above). A user seen for the first time is registered;
            the first user of a new archive is its administrator.

        Returns
        -------
        Archive

        Raises
        ------
        ConfigError
            For a URL of an unsupported database.
        PermissionDenied
            PostgreSQL refused ``user=``; or the SQLite file belongs to another OS account.
        ArchiveError
            If the database cannot be reached or is newer than this nora_lab.
        """
        url, root_path = _resolve_location(location, root)
        engine = _db.make_engine(url)
        try:
            _db.ensure_schema(engine)
        except sa.exc.OperationalError as exc:
            raise ArchiveError(f"cannot open the archive database {engine.url!r}: {exc.orig}") from exc
        if engine.dialect.name == "postgresql":
            return cls._open_postgres(engine, url, root_path, user)
        owner = _sqlite_owner(engine)
        user = user or owner
        with _db.write(engine) as conn:
            stored_root = _stored_root(conn, root_path)
            any_user = conn.execute(sa.select(t.users.c.id).limit(1)).first() is not None
            _db.insert_ignore(conn, t.users, [{"name": user, "is_admin": not any_user}])
            if user == owner:  # the owner of a single-user archive administers it
                conn.execute(sa.update(t.users).where(t.users.c.name == user)
                             .values(is_admin=True))
            row = conn.execute(sa.select(t.users.c.id, t.users.c.is_admin)
                               .where(t.users.c.name == user)).one()
        return cls(engine, _root(root_path, stored_root), user, row.id, bool(row.is_admin))

    @classmethod
    def _open_postgres(cls, engine: sa.Engine, url: str, root_path: Path | None,
                       user: str | None) -> Archive:
        with _db.write(engine) as conn:
            session = _pg.me(conn)
            stored_root = _stored_root(conn, root_path)
            # the first user other than the administrator role itself administers
            first = conn.execute(sa.select(t.users.c.id).where(t.users.c.name != session)
                                 .limit(1)).first() is None
            if user is not None and user != session and _pg.is_admin(conn):
                _pg.ensure_login_role(conn, user, admin=first)  # the admin enrols users
        if user is not None and user != session:
            engine.dispose()
            engine = _db.make_engine(url, role=user)
        try:
            with _db.write(engine) as conn:
                name = _pg.me(conn)
                _pg.register(conn)
                admin = _pg.is_admin(conn)
                if admin:
                    conn.execute(sa.update(t.users).where(t.users.c.name == name)
                                 .values(is_admin=True))
                pk = conn.execute(sa.select(t.users.c.id).where(t.users.c.name == name)).scalar()
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, _root(root_path, stored_root), name, pk, admin)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Archive {self.engine.url.render_as_string(hide_password=True)} as {self.user!r}>"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def as_user(self, user: str) -> Archive:
        """The same archive opened as another user (an administrator's tool and tests').

        On PostgreSQL this is ``SET ROLE user``: PostgreSQL refuses it unless this
        archive's login role is a member of ``user`` (see :meth:`open`).
        """
        if user == self.user:
            return self
        if self.dialect == "postgresql":
            return Archive.open(self.engine.url.render_as_string(hide_password=False),
                                root=self.root, user=user)
        with _db.write(self.engine) as conn:
            _db.insert_ignore(conn, t.users, [{"name": user, "is_admin": False}])
            row = conn.execute(sa.select(t.users.c.id, t.users.c.is_admin)
                               .where(t.users.c.name == user)).one()
        return Archive(self.engine, self.root, user, row.id, bool(row.is_admin))

    # --- users and rights -------------------------------------------------------------
    def _role(self, conn: sa.Connection, project_pk: int) -> str | None:
        if self.is_admin:
            return "admin"
        return conn.execute(sa.select(t.rights.c.role).where(
            t.rights.c.project_id == project_pk, t.rights.c.user_id == self._user_pk)).scalar()

    def _require_admin(self, what: str) -> None:
        if not self.is_admin:
            raise PermissionDenied(f"{what} needs an archive administrator; {self.user!r} is not one")

    def users(self) -> pd.DataFrame:
        """All users (name, is_admin)."""
        import pandas as pd

        with _db.read(self.engine) as conn:
            return pd.read_sql(sa.select(t.users.c.name, t.users.c.is_admin)
                               .order_by(t.users.c.name), conn)

    def add_user(self, name: str, *, admin: bool = False) -> None:
        """Register a user (archive administrators only). Idempotent."""
        self._require_admin(f"adding user {name!r}")
        if not name or any(c.isspace() for c in name):
            raise ConfigError(f"user name {name!r}: expected a login name without spaces")
        with _db.write(self.engine) as conn:
            if self.dialect == "postgresql":  # the database role, enrolled in this archive
                _pg.ensure_login_role(conn, name, admin=admin)
            _db.insert_ignore(conn, t.users, [{"name": name, "is_admin": admin}])
            if admin:
                conn.execute(sa.update(t.users).where(t.users.c.name == name).values(is_admin=True))

    def issue_pgpass(self, user: str, host: str, port: int = 5432) -> Path:
        """Give ``user``'s database role a fresh password and write it into their own
        ``~/.pgpass`` (archive administrators, as root; PostgreSQL only).

        This is the credential for labs and jobs on other nodes than the database, which
        connect over TCP (``postgresql://host:port/db``, no user, no password in the URL).
        On the database's host, peer authentication over the socket needs none.

        Parameters
        ----------
        user
            The lab user: an OS account and a user of this archive.
        host, port
            The server as the user's processes will reach it.

        Returns
        -------
        Path
            The user's ``.pgpass``.
        """
        from nora_lab.archive import pgpass

        self._require_admin(f"issuing a password for {user!r}")
        if self.dialect != "postgresql":
            raise ConfigError("a ~/.pgpass is for a PostgreSQL archive; an SQLite archive "
                              "belongs to the account that owns its file")
        with _db.write(self.engine) as conn:
            if conn.execute(sa.select(t.users.c.id).where(t.users.c.name == user)).first() is None:
                raise NotFoundError(f"no user {user!r} (add it first: nora --adduser {user})")
            database = conn.exec_driver_sql("SELECT current_database()").scalar_one()
            password = _pg.new_password(conn, user)
        return pgpass.write_entry(user, host, port, database, user, password)

    def grant(self, project: str, user: str, role: str, *, identity: bool = False) -> None:
        """Give ``user`` a role on ``project`` (project admins only).

        Parameters
        ----------
        role
            ``"reader"``, ``"editor"`` or ``"admin"``; ``"none"`` removes the right.
        identity
            May the user see real identities in a pseudonymized project?
        """
        if role not in ROLES and role != "none":
            raise ConfigError(f"role {role!r}: expected one of reader, editor, admin, none")
        proj = self.project(project)
        if proj.role != "admin":
            raise PermissionDenied(f"changing rights on project {project!r} needs its admin role; "
                                   f"{self.user!r} is {proj.role}")
        with _db.write(self.engine) as conn:
            upk = conn.execute(sa.select(t.users.c.id).where(t.users.c.name == user)).scalar()
            if upk is None:
                raise NotFoundError(f"no user {user!r} (add it first: nora --adduser {user})")
            if role == "none":
                conn.execute(sa.delete(t.rights).where(t.rights.c.project_id == proj.pk,
                                                       t.rights.c.user_id == upk))
            else:  # one statement: two grants at once cannot both insert
                _db.upsert(conn, t.rights, {"project_id": proj.pk, "user_id": upk,
                                            "role": role, "identity": identity},
                           ["project_id", "user_id"])
        if fsrights.can_sync() and fsrights.is_synced(proj.root, project):
            self.fs_sync(project)  # the file system follows (root: the admin tool)

    def fs_sync(self, project: str) -> dict:
        """Make the project folder's Unix groups and ACLs match its rights (as root; see
        :mod:`nora_lab.archive.fsrights`). Project admins only."""
        proj = self.project(project)
        if proj.role != "admin":
            raise PermissionDenied(f"file-system rights of project {project!r} need its "
                                   f"admin role; {self.user!r} is {proj.role}")
        rights = {u: r for u, r in self.rights(project)[["user", "role"]].itertuples(index=False)}
        return fsrights.sync(proj.root, project, rights)

    def rights(self, project: str) -> pd.DataFrame:
        """Who has which role on ``project`` (its readers may ask)."""
        import pandas as pd

        proj = self.project(project)
        with _db.read(self.engine) as conn:
            return pd.read_sql(
                sa.select(t.users.c.name.label("user"), t.rights.c.role, t.rights.c.identity)
                .join(t.users, t.users.c.id == t.rights.c.user_id)
                .where(t.rights.c.project_id == proj.pk).order_by(t.users.c.name), conn)

    # --- projects -----------------------------------------------------------------------
    def _visible_projects(self) -> sa.Select:
        p = t.projects
        q = sa.select(p.c.id, p.c.name, p.c.naming, p.c.autoexec, p.c.created)
        if not self.is_admin:
            q = q.join(t.rights, t.rights.c.project_id == p.c.id).where(
                t.rights.c.user_id == self._user_pk).add_columns(t.rights.c.role)
        return q.order_by(p.c.name)

    def projects(self) -> pd.DataFrame:
        """The projects this user has a right on (all of them for administrators)."""
        import pandas as pd

        with _db.read(self.engine) as conn:
            df = pd.read_sql(self._visible_projects(), conn)
        if self.is_admin:
            df["role"] = "admin"
        return df.drop(columns=["id"])

    def project(self, name: str) -> Project:
        """Open a project.

        Raises
        ------
        NotFoundError
            If there is no such project *or* the user has no right on it (the two are
            not told apart, so names of other projects do not leak).
        """
        with _db.read(self.engine) as conn:
            row = conn.execute(sa.select(t.projects).where(t.projects.c.name == name)).first()
            role = self._role(conn, row.id) if row is not None else None
        if row is None or role is None:
            raise NotFoundError(
                f"no project {name!r} visible to user {self.user!r} "
                "(see Archive.projects() or `nora --projects`)")
        return Project(self, row.id, row.name, role, row.naming)

    def create_project(self, name: str, *, naming: str = "real", exist_ok: bool = False) -> Project:
        """Create a project; its creator becomes its admin.

        Parameters
        ----------
        name
            Letters, digits, ``_ - .``; it is also the project's folder name.
        naming
            ``"real"`` (subject folders are the patients' IDs) or ``"pseudonym"``
            (generated IDs; the real identity is kept in its own table).
        exist_ok
            Return the existing project instead of raising.
        """
        if not name or not set(name) <= _PROJECT_CHARS or name.startswith("."):
            raise ConfigError(f"project name {name!r}: use letters, digits, '_', '-' and '.'")
        if len(name) > 100:
            raise ConfigError(f"project name {name[:20]!r}… has {len(name)} characters; "
                              "at most 100")
        if naming not in ("real", "pseudonym"):
            raise ConfigError(f"naming {naming!r}: expected 'real' or 'pseudonym'")
        folder = self.root / name
        made = False
        try:
            with _db.write(self.engine) as conn:
                if conn.execute(sa.select(t.projects.c.id)
                                .where(t.projects.c.name == name)).first():
                    if not exist_ok:
                        raise AlreadyExistsError(f"project {name!r} exists (use exist_ok=True)")
                else:
                    self._insert_project(conn, name, naming)
                    # the folder first: a project that cannot exist on disk gets no row
                    made = not folder.exists()
                    try:
                        folder.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        raise ArchiveError(f"cannot create project {name!r}: its folder "
                                           f"{folder}: {exc.strerror}") from None
        except BaseException as exc:
            if made:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            if isinstance(exc, sa.exc.IntegrityError):  # there, but not visible to this user
                raise AlreadyExistsError(f"project {name!r} exists") from None
            raise
        folder.mkdir(parents=True, exist_ok=True)
        return self.project(name)

    def _insert_project(self, conn: sa.Connection, name: str, naming: str) -> None:
        """The project's row and its creator's admin right."""
        if self.dialect == "postgresql":  # a function: users may not insert directly
            conn.execute(sa.text("SELECT nora_create_project(:n, :m)"), {"n": name, "m": naming})
            return
        pk = conn.execute(sa.insert(t.projects).values(name=name, naming=naming)
                          .returning(t.projects.c.id)).scalar_one()
        conn.execute(sa.insert(t.rights).values(project_id=pk, user_id=self._user_pk,
                                                role="admin", identity=True))

    def delete_project(self, name: str) -> None:
        """Delete a project, its rows and its folder (project admins only)."""
        proj = self.project(name)
        if proj.role != "admin":
            raise PermissionDenied(f"deleting project {name!r} needs its admin role")
        trash = proj.root.parent / f"{RESERVED_PREFIX}trash-{uuid.uuid4().hex}"
        if proj.root.exists():
            os.rename(proj.root, trash)
        try:
            with _db.write(self.engine) as conn:
                conn.execute(sa.delete(t.projects).where(t.projects.c.id == proj.pk))
        except BaseException:
            if trash.exists():
                os.rename(trash, proj.root)
            raise
        shutil.rmtree(trash, ignore_errors=True)

    # --- SQL ------------------------------------------------------------------------------
    def sql(self, statement: str, *, timeout: float = SQL_TIMEOUT_S) -> pd.DataFrame:
        """Run an SQL statement and return its rows.

        On PostgreSQL it runs under the user's own role, read-only unless they are an
        administrator: row-level security shows only the projects (and identities) they
        have a right on, and PostgreSQL refuses what the role may not do. On SQLite
        administrators run it on the archive itself; every other user read-only on a
        snapshot holding only the projects they can read, so SQL can neither change the
        archive nor reveal another project, nor create files (``ATTACH``, ``VACUUM INTO``
        are refused).

        Parameters
        ----------
        statement
            One SQL statement.
        timeout
            Seconds it may run (``statement_timeout`` on PostgreSQL, a progress handler
            on SQLite); then it is stopped with an :class:`ArchiveError`.

        Raises
        ------
        ArchiveError
            The statement failed (the database's message), or ran out of time.
        """
        import pandas as pd

        if self.dialect == "postgresql" or self.is_admin:
            return self._sql_direct(statement, timeout)
        snap = self._snapshot()
        snap.set_authorizer(_no_files)
        snap.set_progress_handler(_past(timeout), 10_000)
        try:
            cur = snap.execute(statement)
            cols = [d[0] for d in cur.description] if cur.description else []
            return pd.DataFrame(cur.fetchall(), columns=cols)
        except sqlite3.Error as exc:
            raise ArchiveError(f"SQL failed (read-only, on your projects only): "
                               f"{_sql_message(exc, timeout)}") from None
        finally:
            snap.close()

    def _sql_direct(self, statement: str, timeout: float) -> pd.DataFrame:
        """The statement on the archive database itself: an SQLite administrator's, or
        any PostgreSQL user's under their own role (row-level security decides what it
        sees; a non-administrator's transaction is read-only)."""
        import pandas as pd

        try:
            with _db.write(self.engine) as conn:
                if self.dialect == "postgresql" and not self.is_admin:
                    if conn.exec_driver_sql("SELECT session_user <> current_user").scalar():
                        # a borrowed role: RESET ROLE would give the SQL our login
                        raise PermissionDenied(
                            f"SQL as {self.user!r} runs only under {self.user!r}'s own "
                            "login; connect with your own credentials")
                    conn.exec_driver_sql("SET TRANSACTION READ ONLY")
                with _time_limit(conn, timeout):
                    res = conn.exec_driver_sql(statement)
                    if res.returns_rows:
                        return pd.DataFrame(res.fetchall(), columns=list(res.keys()))
                    return pd.DataFrame({"rowcount": [res.rowcount]})
        except sa.exc.DBAPIError as exc:
            raise ArchiveError(f"SQL failed: {_sql_message(exc.orig, timeout)}") from None

    def _snapshot(self) -> sqlite3.Connection:
        import pandas as pd

        with _db.read(self.engine) as conn:
            vis = conn.execute(self._visible_projects()).fetchall()
            pks = [r.id for r in vis]
            ident_pks = [r.id for r in vis if r.naming == "real"] + [
                pk for (pk,) in conn.execute(sa.select(t.rights.c.project_id).where(
                    t.rights.c.user_id == self._user_pk, t.rights.c.identity))]
            frames = {
                "projects": sa.select(t.projects.c.id, t.projects.c.name, t.projects.c.naming)
                .where(t.projects.c.id.in_(pks)),
                "subjects": sa.select(t.subjects).where(t.subjects.c.project_id.in_(pks)),
                "studies": sa.select(t.studies).where(t.studies.c.project_id.in_(pks)),
                "files": sa.select(t.files).where(t.files.c.project_id.in_(pks)),
                "subject_tags": sa.select(t.subject_tags).join(t.subjects).where(
                    t.subjects.c.project_id.in_(pks)),
                "study_tags": sa.select(t.study_tags).join(t.studies).where(
                    t.studies.c.project_id.in_(pks)),
                "file_tags": sa.select(t.file_tags).join(t.files).where(
                    t.files.c.project_id.in_(pks)),
                "jobs": sa.select(t.jobs).where(t.jobs.c.project_id.in_(pks)),
                "identities": sa.select(t.identities).join(t.subjects).where(
                    t.subjects.c.project_id.in_(ident_pks)),
            }
            snap = sqlite3.connect(":memory:")
            for name, q in frames.items():
                df = pd.read_sql(q, conn)
                for col in df.columns:
                    if df[col].map(lambda v: isinstance(v, (dict, list))).any():
                        df[col] = df[col].map(lambda v: None if v is None else json.dumps(v))
                df.to_sql(name, snap, index=False)
        snap.execute("PRAGMA query_only=1")
        return snap
