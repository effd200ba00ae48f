"""`python -m ops.supabase_migrations DIR`: lay out `sql/` as Supabase CLI migrations.

Writes DIR/supabase/migrations/<version>_<name>.sql, byte for byte the files of `sql/`
(their names already follow the CLI's `<timestamp>_<name>.sql`), so a project managed
with the Supabase CLI applies the gateway's schema with `supabase db push`. Files the
CLI would skip or order differently are refused. Existing files of the same names are
replaced; other migrations in DIR are left alone (and must sort in among ours).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.migrate import SQL_DIR, MigrationError, discover

__all__ = ["CLI_FILE_PATTERN", "export", "main"]

# The Supabase CLI's own rule for a migration's file name (pkg/migration: version, name).
CLI_FILE_PATTERN = re.compile(r"^([0-9]+)_(.*)\.sql$")


def export(target: Path, sql_dir: Path = SQL_DIR) -> list[Path]:
    """Copy every migration into target/supabase/migrations; the files written, in order."""
    migrations = discover(sql_dir)
    out = target / "supabase" / "migrations"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for migration in migrations:
        name = migration.path.name
        match = CLI_FILE_PATTERN.match(name)
        if match is None or match[1] != migration.version:
            raise MigrationError(f"{name}: the Supabase CLI would not read its version")
        dest = out / name
        shutil.copyfile(migration.path, dest)
        written.append(dest)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.supabase_migrations", description=__doc__)
    parser.add_argument("directory", type=Path, help="the Supabase project (holds supabase/)")
    args = parser.parse_args(argv)
    try:
        written = export(args.directory)
    except MigrationError as err:
        print(f"cannot export: {err}", file=sys.stderr)
        return 1
    print(f"{len(written)} migration(s) in {args.directory / 'supabase' / 'migrations'}")
    print("next: supabase link --project-ref <ref> && supabase db push")
    return 0


if __name__ == "__main__":
    sys.exit(main())
