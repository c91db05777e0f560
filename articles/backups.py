"""Backups that round-trip: one archive holds the database, the media folder and a manifest.

`backup_create` copies the database with the engine's own consistent-copy tool — SQLite's online
backup API, or `pg_dump` inside one exported snapshot on PostgreSQL — so the site may keep
running, and counts the rows of every table in that same copy. `backup_restore` reads and checks
the whole archive before it changes anything, replaces the database in one transaction, swaps
the media folder in, compares the row counts with the manifest and runs `migrate` (a backup
made by older code). The media folder is reached only through the `media_*` functions; with
MEDIA_STORAGE_URL=s3://… they read the bucket's objects into the archive and upload them back.

Archive layout (a `.tar.gz`): `manifest.json`, `database.sqlite3` or `database.pgdump`, and
`media/…` (MEDIA_ROOT's files as they are).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import uuid
import zlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connections, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

FORMAT = 1
MANIFEST = "manifest.json"
DATABASE_MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
MEDIA_PREFIX = "media/"
# Folders of a restore in progress, inside MEDIA_ROOT (so renames never cross a mount point);
# never part of a backup.
WORK_PREFIX = ".newsdesk-"


class BackupError(Exception):
    """A refusal or a failure, said in one sentence the commands print as it is."""


@dataclass
class RestoreResult:
    manifest: dict
    media_files: int


# --- backup ------------------------------------------------------------------------------------


def backup_create(*, output: str | Path | None = None, using: str = "default") -> tuple[Path, dict]:
    """Write one archive and return its path and manifest. `output` is a folder (the archive is
    named by the time) or the name of a new file; the default folder is `<DATA_DIR>/backups`.
    An existing file is never overwritten."""
    connection = connections[using]
    engine = _engine(connection)
    folder, name, numbered = _destination(output)
    with tempfile.TemporaryDirectory(prefix="newsdesk-backup-") as work:
        database_file = Path(work) / DATABASE_MEMBERS[engine]
        if engine == "sqlite":
            counts = _sqlite_dump(connection, database_file)
        else:
            counts = _postgres_dump(connection, database_file)
        manifest = {
            "format": FORMAT,
            "newsdesk_version": _version(),
            "created_at": timezone.now().isoformat(),
            "engine": engine,
            "database": database_file.name,
            "migrations": _applied_migrations(connection),
            "counts": counts,
        }
        partial = folder / f".{name}.{uuid.uuid4().hex}.partial"
        try:
            with tarfile.open(partial, "w:gz") as tar:
                tar.add(database_file, arcname=database_file.name)
                manifest["media"] = media_add(tar)
                data = json.dumps(manifest, indent=2).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime = len(data), int(timezone.now().timestamp())
                tar.addfile(info, io.BytesIO(data))
            return _publish(partial, folder, name, numbered=numbered), manifest
        except OSError as exc:
            raise BackupError(
                f"Cannot write the backup in {folder}: {exc.strerror or exc}."
            ) from exc
        finally:
            partial.unlink(missing_ok=True)


def _engine(connection) -> str:
    if connection.vendor not in DATABASE_MEMBERS:
        raise BackupError(f"Backups support SQLite and PostgreSQL, not {connection.vendor}.")
    return connection.vendor


def _destination(output) -> tuple[Path, str, bool]:
    """The folder and file name a backup goes to, and whether the name may take a number: a
    timestamped name unless a file was named."""
    stamp = f"newsdesk-{timezone.localtime():%Y%m%d-%H%M%S}.tar.gz"
    if output is None:
        folder, name, numbered = Path(settings.DATA_DIR) / "backups", stamp, True
    else:
        path = Path(output)
        if path.is_dir() or str(output).endswith(("/", os.sep)):
            folder, name, numbered = path, stamp, True
        else:
            if path.exists():
                raise BackupError(f"{path} already exists; a backup never overwrites a file.")
            folder, name, numbered = path.parent, path.name, False
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"Cannot create the folder {folder}: {exc.strerror or exc}.") from exc
    return folder, name, numbered


def _publish(partial: Path, folder: Path, name: str, *, numbered: bool) -> Path:
    """Give the finished archive its name without ever replacing a file: the name is claimed
    with an exclusive create first (newsdesk-….tar.gz, then -2, -3, … for a timestamped name)."""
    stem = name.removesuffix(".tar.gz")
    for n in range(1, 1000):
        candidate = folder / (name if n == 1 else f"{stem}-{n}.tar.gz")
        try:
            with open(candidate, "xb"):
                pass
        except FileExistsError:
            if not numbered:
                raise BackupError(
                    f"{candidate} already exists; a backup never overwrites a file."
                ) from None
            continue
        try:
            os.replace(partial, candidate)
        except OSError:
            candidate.unlink(missing_ok=True)
            raise
        return candidate
    raise BackupError(f"Too many backups named {stem} in {folder}.")


def _version() -> str:
    try:
        return metadata.version("newsdesk")
    except metadata.PackageNotFoundError:
        return "unknown"


def _applied_migrations(connection) -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in sorted(MigrationRecorder(connection).applied_migrations()):
        applied.setdefault(app, []).append(name)
    return applied


def _tables(connection) -> list[str]:
    """Every table Django knows (installed models, many-to-many tables, the migration record)."""
    names = set(connection.introspection.django_table_names(include_views=False))
    names.add(MigrationRecorder.Migration._meta.db_table)
    return sorted(names)


def _count(cursor, tables, quote) -> dict[str, int]:
    counts = {}
    for table in tables:
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")
        counts[table] = cursor.fetchone()[0]
    return counts


def _sqlite_dump(connection, target: Path) -> dict[str, int]:
    """SQLite's online backup API: a consistent copy while the site keeps writing."""
    connection.ensure_connection()
    tables = _tables(connection)
    copy = sqlite3.connect(target)
    try:
        connection.connection.backup(copy)
        # One self-contained file: no -wal or -shm beside it in the archive.
        copy.execute("PRAGMA journal_mode=DELETE")
        existing = {row[0] for row in copy.execute("SELECT name FROM sqlite_master")}
        return _count(
            copy.cursor(), [t for t in tables if t in existing], connection.ops.quote_name
        )
    finally:
        copy.close()


def _postgres_dump(connection, target: Path) -> dict[str, int]:
    """`pg_dump --format=custom` reading the snapshot in which the rows were counted."""
    pg_dump = _client_tool("pg_dump")
    args, env = connection.client.settings_to_cmd_args_env(connection.settings_dict, [])
    tables = _tables(connection)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        existing = set(connection.introspection.table_names(cursor))
        counts = _count(cursor, [t for t in tables if t in existing], connection.ops.quote_name)
        _run(
            [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}", *args[1:]],
            env,
        )
    return counts


def _client_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(
            f"{name} was not found on PATH; install PostgreSQL's client tools "
            "(Debian: postgresql-client, the same major version as the server)."
        )
    return path


def _run(command: list[str], env: dict | None) -> None:
    tool = Path(command[0]).name
    try:
        result = subprocess.run(
            command, env={**os.environ, **(env or {})}, capture_output=True, text=True
        )
    except OSError as exc:
        raise BackupError(f"Cannot run {tool}: {exc.strerror or exc}.") from exc
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()
        raise BackupError(f"{tool} failed: {' '.join(detail[-3:]) or result.returncode}")


# --- media -------------------------------------------------------------------------------------


def media_add(tar: tarfile.TarFile) -> dict[str, int]:
    """Put every file of MEDIA_ROOT (or of the bucket, with MEDIA_STORAGE_URL=s3://…) into the
    archive under `media/`; return what was added."""
    if settings.MEDIA_STORE:
        return _store_add(tar)
    root = Path(settings.MEDIA_ROOT)
    files = size = 0
    if not root.is_dir():
        return {"files": 0, "bytes": 0}
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(WORK_PREFIX))
        for name in sorted(names):
            path = Path(folder) / name
            try:
                tar.add(path, arcname=MEDIA_PREFIX + path.relative_to(root).as_posix())
                files += 1
                size += path.stat().st_size
            except FileNotFoundError:
                continue  # deleted while we were copying: the database no longer names it
    return {"files": files, "bytes": size}


def _store_add(tar: tarfile.TarFile) -> dict[str, int]:
    """The bucket's objects, read one at a time, under `media/` as the disk's files would be."""
    from django.core.files.storage import default_storage

    from .media_store import MediaStoreError, stored_names

    files = size = 0
    try:
        for name in stored_names(default_storage):
            try:
                with default_storage.open(name, "rb") as handle:
                    data = handle.read()
            except FileNotFoundError:
                continue  # deleted while we were copying
            info = tarfile.TarInfo(MEDIA_PREFIX + name)
            info.size, info.mtime = len(data), int(timezone.now().timestamp())
            tar.addfile(info, io.BytesIO(data))
            files += 1
            size += len(data)
    except MediaStoreError as exc:
        raise BackupError(
            f"The media store ({settings.MEDIA_STORE['bucket']}) could not be read: "
            f"{exc.strerror}. No backup was written."
        ) from exc
    return {"files": files, "bytes": size, "store": settings.MEDIA_STORE["bucket"]}


def media_stage() -> Path:
    """A new, empty folder beside the media (inside MEDIA_ROOT, never part of a backup)."""
    root = Path(settings.MEDIA_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=WORK_PREFIX + "restore-", dir=root))


def media_install(staged: Path) -> None:
    """Make the staged files the media folder: the old top-level entries move aside, the staged
    ones move in (renames within one folder), then the old ones are deleted. With media in a
    bucket, the staged files are uploaded under their names (objects the archive does not hold
    are left as they are)."""
    if settings.MEDIA_STORE:
        return _store_install(staged)
    root = Path(settings.MEDIA_ROOT)
    old = Path(tempfile.mkdtemp(prefix=WORK_PREFIX + "old-", dir=root))
    for entry in list(root.iterdir()):
        if not entry.name.startswith(WORK_PREFIX):
            entry.rename(old / entry.name)
    incoming = staged / MEDIA_PREFIX.rstrip("/")
    if incoming.is_dir():
        for entry in list(incoming.iterdir()):
            entry.rename(root / entry.name)
    shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _store_install(staged: Path) -> None:
    from django.core.files import File
    from django.core.files.storage import default_storage

    from .media_store import MediaStoreError

    incoming = staged / MEDIA_PREFIX.rstrip("/")
    try:
        for path in sorted(incoming.rglob("*")) if incoming.is_dir() else []:
            if path.is_file():
                with open(path, "rb") as handle:
                    default_storage._save(path.relative_to(incoming).as_posix(), File(handle))
    except MediaStoreError as exc:
        raise BackupError(
            f"The database was restored but the media store could not take the archive's "
            f"files: {exc.strerror}. Run the restore again once the store answers."
        ) from exc
    finally:
        shutil.rmtree(staged, ignore_errors=True)


# --- restore -----------------------------------------------------------------------------------


def backup_restore(
    archive: str | Path, *, force: bool = False, using: str = "default"
) -> RestoreResult:
    """Replace the configured database and media with the archive's. Refuses a database that
    holds articles or users unless `force`, an archive of another engine, and anything
    unreadable; none of these changes anything."""
    archive = Path(archive)
    if not archive.is_file():
        raise BackupError(f"{archive}: no such backup file.")
    connection = connections[using]
    engine = _engine(connection)
    with tempfile.TemporaryDirectory(prefix="newsdesk-restore-") as work:
        with _open_archive(archive) as tar:
            members = _members(tar, archive)
            manifest = _manifest(tar, members, archive)
            _check_fits(manifest, engine, archive)
            if not force and (held := database_content(connection)):
                rows = ", ".join(f"{n} rows in {table}" for table, n in held.items())
                raise BackupError(
                    f"The configured database is not empty ({rows}); restoring would replace "
                    "it. Run again with --yes to replace it."
                )
            database_file = Path(work) / manifest["database"]
            _extract(tar, members[manifest["database"]], Path(work), archive)
            _check_database_file(engine, database_file, archive)
            staged = media_stage()
            try:
                media = [m for name, m in members.items() if name.startswith(MEDIA_PREFIX)]
                for member in media:
                    _extract(tar, member, staged, archive)
                files = sum(1 for m in media if m.isfile())
                expected = manifest.get("media", {}).get("files", files)
                if files != expected:
                    raise BackupError(
                        f"{archive} holds {files} media files but its manifest lists {expected}."
                    )
                if engine == "sqlite":
                    _sqlite_restore(connection, database_file)
                else:
                    _postgres_restore(connection, database_file, Path(work))
            except BaseException:
                shutil.rmtree(staged, ignore_errors=True)
                raise
            media_install(staged)
    connection.close()
    differences = _differences(manifest["counts"], connection)
    call_command("migrate", interactive=False, verbosity=0, database=using)
    _pages_changed()
    if differences:
        raise BackupError(
            "The database was restored but its row counts differ from the manifest: "
            + "; ".join(differences)
        )
    return RestoreResult(manifest=manifest, media_files=files)


def database_content(connection) -> dict[str, int]:
    """Rows in the tables that hold the newsroom's work (the articles app's and users); empty
    for a new or freshly migrated database."""
    existing = set(connection.introspection.table_names())
    models = [*apps.get_app_config("articles").get_models(), get_user_model()]
    tables = [m._meta.db_table for m in models if m._meta.db_table in existing]
    with connection.cursor() as cursor:
        counts = _count(cursor, tables, connection.ops.quote_name)
    return {table: n for table, n in counts.items() if n}


def _open_archive(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, "r:*")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(
            f"{archive} is not a readable Newsdesk backup (not a .tar.gz archive)."
        ) from exc


def _members(tar: tarfile.TarFile, archive: Path) -> dict[str, tarfile.TarInfo]:
    try:
        return {member.name: member for member in tar.getmembers()}
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"{archive} is damaged or incomplete ({exc}).") from exc


def _manifest(tar: tarfile.TarFile, members: dict, archive: Path) -> dict:
    if MANIFEST not in members:
        raise BackupError(f"{archive} is not a Newsdesk backup (it has no {MANIFEST}).")
    try:
        manifest = json.load(tar.extractfile(members[MANIFEST]))
    except (tarfile.TarError, OSError, EOFError, zlib.error, ValueError) as exc:
        raise BackupError(f"{archive}: its {MANIFEST} cannot be read ({exc}).") from exc
    required = {"format", "engine", "database", "migrations", "counts"}
    if not isinstance(manifest, dict) or not required <= manifest.keys():
        raise BackupError(f"{archive}: its {MANIFEST} is incomplete.")
    if manifest["format"] != FORMAT:
        raise BackupError(
            f"{archive} is a backup in format {manifest['format']}; this Newsdesk reads {FORMAT}."
        )
    if manifest["database"] not in members or manifest["database"] not in DATABASE_MEMBERS.values():
        raise BackupError(f"{archive} holds no database file.")
    return manifest


def _check_fits(manifest: dict, engine: str, archive: Path) -> None:
    if manifest["engine"] != engine:
        raise BackupError(
            f"{archive} is a backup of a {manifest['engine']} database and the configured "
            f"database is {engine}; restore it into a {manifest['engine']} database (to move "
            "between engines, use `make dump-data` and `loaddata`)."
        )
    loader = MigrationLoader(None, ignore_no_migrations=True)
    unknown = [
        f"{app}.{name}"
        for app, names in manifest["migrations"].items()
        if app in loader.migrated_apps
        for name in names
        if (app, name) not in loader.disk_migrations
    ]
    if unknown:
        raise BackupError(
            f"{archive} was made by a newer Newsdesk (its database has migrations this code "
            f"does not know: {', '.join(unknown[:5])}); update the code first."
        )


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, folder: Path, archive: Path) -> None:
    try:
        tar.extract(member, folder, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BackupError(f"{archive}: cannot extract {member.name} ({exc}).") from exc


def _check_database_file(engine: str, path: Path, archive: Path) -> None:
    if engine == "sqlite":
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                result = db.execute("PRAGMA quick_check").fetchone()[0]
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{archive}: its database file is damaged ({exc}).") from exc
        if result != "ok":
            raise BackupError(f"{archive}: its database file is damaged ({result}).")
    else:
        pg_restore = _client_tool("pg_restore")
        try:
            _run([pg_restore, "--list", str(path)], None)
        except BackupError as exc:
            raise BackupError(f"{archive}: its database file is damaged ({exc}).") from exc


def _sqlite_restore(connection, database_file: Path) -> None:
    """The backup API again, the other way: the live database's pages are replaced in one
    write transaction, so other connections see the old database or the new one."""
    connection.ensure_connection()
    source = sqlite3.connect(f"file:{database_file}?mode=ro", uri=True)
    try:
        source.backup(connection.connection)
    except sqlite3.Error as exc:
        raise BackupError(f"Cannot restore into the SQLite database: {exc}.") from exc
    finally:
        source.close()


# Everything in the connection's schema goes, in the same transaction as the restore: tables a
# newer migration made would otherwise stop `migrate` from making them again.
_POSTGRES_EMPTY_SCHEMA = """
DO $newsdesk$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
           ORDER BY c.relkind = 'S' LOOP
    EXECUTE format(
      CASE r.relkind WHEN 'v' THEN 'DROP VIEW IF EXISTS %I CASCADE'
                     WHEN 'm' THEN 'DROP MATERIALIZED VIEW IF EXISTS %I CASCADE'
                     WHEN 'S' THEN 'DROP SEQUENCE IF EXISTS %I CASCADE'
                     ELSE 'DROP TABLE IF EXISTS %I CASCADE' END,
      r.relname);
  END LOOP;
END $newsdesk$;
"""


def _postgres_restore(connection, dump_file: Path, work: Path) -> None:
    """pg_restore writes the dump as SQL; psql runs it after emptying the schema, all in one
    transaction, so a failure leaves the database as it was."""
    pg_restore, psql = _client_tool("pg_restore"), _client_tool("psql")
    args, env = connection.client.settings_to_cmd_args_env(connection.settings_dict, [])
    empty, script = work / "empty.sql", work / "restore.sql"
    empty.write_text(_POSTGRES_EMPTY_SCHEMA)
    _run([pg_restore, "--no-owner", "--no-privileges", f"--file={script}", str(dump_file)], None)
    connection.close()
    _run(
        [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        + ["-f", str(empty), "-f", str(script), *args[1:]],
        env,
    )


def _differences(expected: dict[str, int], connection) -> list[str]:
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        present = [t for t in expected if t in existing]
        counts = _count(cursor, present, connection.ops.quote_name)
    return [
        f"{table}: {counts.get(table, 'missing')} rows, expected {n}"
        for table, n in expected.items()
        if counts.get(table) != n
    ]


def _pages_changed() -> None:
    from .cache import EVERY_PAGE, pages_changed

    pages_changed(EVERY_PAGE)
