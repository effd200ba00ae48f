"""Command line: `python -m gateway [serve|check-config|migrate|embedded|token|doctor]`.

Exit codes: 0 success, 1 runtime failure, 2 bad configuration or usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from gateway.config import Config, ConfigError, ServerConfig, effective, load_config
from gateway.logs import QUIET_LOGGERS
from gateway.logs import configure as configure_logs
from gateway.loop import run
from gateway.migrate import MigrationError, migrate, pending
from gateway.signals import die_with_parent

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gateway", description=__doc__)
    parser.add_argument("--config", default="gateway.toml", help="path to gateway.toml")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser(
        "serve", help="run the gateway (default; starts the embedded stack if needed)"
    )
    serve.add_argument("--host", default=None, help="listen address (overrides server.host)")
    serve.add_argument(
        "--port", type=int, default=None, help="listen port (overrides server.port; 0: any)"
    )
    sub.add_parser("check-config", help="print the effective configuration, secrets masked")
    mig = sub.add_parser("migrate", help="apply sql/ migrations to a database")
    mig.add_argument("--database-url", required=True, help="PostgreSQL URL, e.g. hosted Supabase")
    mig.add_argument(
        "--dry-run", action="store_true", help="list what would be applied; change nothing"
    )
    sub.add_parser("embedded", help="run the embedded Supabase-compatible stack in the foreground")
    doc = sub.add_parser(
        "doctor", help="check the configured project end to end; exit 0 if all pass"
    )
    doc.add_argument(
        "--database-url", default=None, help="PostgreSQL URL for the schema, publication, RLS"
    )
    tok = sub.add_parser(
        "token", help="sign in (signing up on the embedded stack) and print a token"
    )
    tok.add_argument("email")
    tok.add_argument("--password", default=None, help="required for a hosted project")
    for name in ("check-config", "migrate", "embedded", "serve", "token", "doctor"):
        # Accept --config after the command too: `python -m gateway check-config --config x`.
        sub.choices[name].add_argument(
            "--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
    return parser


def _check_config(config: Config) -> int:
    print(json.dumps(effective(config), indent=2))
    print("configuration OK", file=sys.stderr)
    return EXIT_OK


def _migrate(database_url: str, dry_run: bool) -> int:
    try:
        if dry_run:
            return _print_pending(run(pending(database_url)))
        applied = run(migrate(database_url))
    except MigrationError as err:
        print(f"migration failed: {err}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as err:
        print(f"cannot reach the database: {err}", file=sys.stderr)
        return EXIT_FAILED
    for name in applied:
        print(f"applied {name}")
    print(f"{len(applied)} migration(s) applied; database is up to date")
    return EXIT_OK


def _print_pending(names: list[str]) -> int:
    for name in names:
        print(f"would apply {name}")
    print(f"{len(names)} migration(s) pending; nothing was changed (dry run)")
    return EXIT_OK


def _embedded(config: Config) -> int:
    from gateway.embedded.runner import run_embedded

    run(run_embedded(config))
    return EXIT_OK


def _serve(config: Config, config_path: str) -> int:
    from gateway.cli.launcher import serve

    return run(serve(config, config_path))


def _doctor(config: Config, database_url: str | None) -> int:
    from gateway.cli.doctor import doctor_command

    return run(doctor_command(config, database_url))


def _token(config: Config, email: str, password: str | None) -> int:
    from gateway.cli.token_cmd import issue_token, print_token

    print_token(run(issue_token(config, email, password)))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    die_with_parent()
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in QUIET_LOGGERS:  # before the configuration is read, as after
        logging.getLogger(noisy).setLevel(logging.WARNING)
    command = args.command or "serve"
    if command == "migrate":
        return _migrate(args.database_url, args.dry_run)
    try:
        config = with_listen_overrides(load_config(args.config, environ=os.environ), args)
    except ConfigError as err:
        print(f"invalid configuration: {err}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logs(config.log)
    if command == "check-config":
        return _check_config(config)
    if command == "embedded":
        return _embedded(config)
    if command == "doctor":
        return _doctor(config, args.database_url)
    if command == "token":
        return _token(config, args.email, args.password)
    return _serve(config, args.config)


def with_listen_overrides(config: Config, args: argparse.Namespace) -> Config:
    """`serve --host/--port` win over gateway.toml and the environment."""
    update = {
        key: value for key in ("host", "port") if (value := getattr(args, key, None)) is not None
    }
    if not update:
        return config
    try:
        server = ServerConfig.model_validate(config.server.model_dump() | update)
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"--{first['loc'][0]}: {first['msg']}") from err
    return config.model_copy(update={"server": server})


if __name__ == "__main__":
    sys.exit(main())
