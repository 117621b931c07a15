"""`touchpoint`: the command line that manages keys, the warehouse schema, tenants and connections.

Refresh tokens are read from stdin or from a named environment variable, never from argv,
where any user on the machine could read them with `ps`. `connections add` asks the provider
whose token it is and stores nothing unless it is the owner's (or an alias's). Expected failures
(unknown tenant, bad slug, bad input, missing or wrong key, unusable state folder or URL,
unreachable database, a token of another account) print one line to stderr and exit 2; their
texts are built to contain no token. `keys rotate` exits 1 when it finished but had to leave
connections whose tokens no key decrypts.

Extending: `build_parser()` returns the parser and its subcommand action; each subcommand sets
`handler` (a function of the parsed arguments returning the exit code) with `set_defaults`, and
`main` dispatches on it. A new command is one `add_parser` call plus its handler.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import urlsplit

import dagster as dg
import sqlalchemy as sa

from orchestration.backfill_cli import BackfillError, add_backfill_command, launch_from_args
from orchestration.crm_cli import CrmFileError, add_crm_command
from orchestration.explain_cli import add_explain_command
from resources import reconnect_links, settings
from resources.connectors import verify_token_owner
from resources.providers import PROVIDERS
from resources.reconnect import ReconnectConfig, ReconnectService
from resources.registry import (
    Connection,
    ConnectionHealth,
    ConnectionStore,
    Registry,
    RegistryError,
    Tenant,
    TenantStore,
    rotate_tokens,
)
from resources.registry.validation import (
    normalise_email,
    normalise_scopes,
    validate_authorized_at,
)
from resources.secrets import SecretKeyError, generate_key
from resources.warehouse import Warehouse, WarehouseError
from vocabulary.status import TOKEN_OWNER_MISMATCH, ConnectionFailure, ConnectionStatus
from vocabulary.text import short_repr

EXIT_USAGE = 2
EXIT_INCOMPLETE = 1
"""The command did its work, except for what it named on stderr (`keys rotate`)."""
ENV_VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

Handler = Callable[[argparse.Namespace], int]


class CommandError(Exception):
    """An expected failure of a command, shown to the user as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse without prefix abbreviations, and without echoing unrecognized arguments.

    A token pasted on the command line by mistake should at least not be printed back into a
    terminal log or CI output.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        if message.startswith("unrecognized arguments"):
            message = "unrecognized arguments (not shown, in case they hold a secret)"
        super().error(message)


def build_parser() -> tuple[argparse.ArgumentParser, Any]:
    """The `touchpoint` parser and its subparsers action (for adding commands)."""
    parser = _Parser(
        prog="touchpoint",
        description="Manage Touchpoint's warehouse, tenants and mailbox connections.",
    )
    parser.add_argument(
        "--warehouse-url",
        default=None,
        help=(
            f"SQLAlchemy URL of the warehouse (default: ${settings.WAREHOUSE_URL_ENV}, or a "
            "SQLite file in the local state folder)"
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    keygen = commands.add_parser("keygen", help="print a new key (same as `keys generate`)")
    keygen.set_defaults(handler=cmd_keygen)
    _add_key_commands(commands)

    migrate = commands.add_parser("migrate", help="bring the warehouse schema up to date")
    migrate.set_defaults(handler=cmd_migrate)

    _add_tenant_commands(commands)
    _add_connection_commands(commands)
    add_crm_command(commands, open_warehouse)
    add_explain_command(commands, open_warehouse)
    _add_demo_commands(commands)

    serve = commands.add_parser(
        "serve", help="serve the reconnect pages mailbox owners reach from their links"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port (default: the one in ${reconnect_links.PUBLIC_URL_ENV}, else 8080)",
    )
    serve.set_defaults(handler=cmd_serve)
    add_backfill_command(commands, cmd_backfill)
    return parser, commands


def _add_key_commands(commands: Any) -> None:
    keys = commands.add_parser("keys", help="generate keys and rotate stored tokens to the newest")
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    generate = sub.add_parser("generate", help="print a new key for TOUCHPOINT_SECRET_KEY")
    generate.set_defaults(handler=cmd_keygen)
    rotate = sub.add_parser(
        "rotate",
        help=(
            "re-encrypt every stored token under the first key of TOUCHPOINT_SECRET_KEY, so the "
            "others can be removed"
        ),
    )
    rotate.add_argument(
        "--dry-run", action="store_true", help="only count what would be re-encrypted"
    )
    rotate.set_defaults(handler=cmd_keys_rotate)
    link_key = sub.add_parser(
        "generate-link-key", help="print a new key for TOUCHPOINT_LINK_KEY (reconnect links)"
    )
    link_key.set_defaults(handler=cmd_generate_link_key)


def _add_demo_commands(commands: Any) -> None:
    demo = commands.add_parser(
        "demo", help="start the sandbox, register its tenants, sync their last days' mail"
    )
    demo.add_argument("--port", type=int, default=8765, help="sandbox port (0: any free one)")
    demo.add_argument("--days", type=int, default=3, help="how many recent UTC days to sync")
    demo.add_argument(
        "--act",
        choices=["broken-connection"],
        help="after the sync, play an act: broken-connection revokes one mailbox and shows it "
        "detected, reported by email, reconnected and recovered by a Dagster backfill",
    )
    demo.set_defaults(handler=cmd_demo)
    dev = commands.add_parser(
        "dev", help="the demo's sandbox plus `dagster dev -w workspace.yaml` on the demo's state"
    )
    dev.add_argument(
        "dagster_args", nargs=argparse.REMAINDER, help="after --, passed to dagster dev"
    )
    dev.set_defaults(handler=cmd_dev)


def cmd_demo(args: argparse.Namespace) -> int:
    from orchestration.demo import run_demo

    act = None
    if args.act == "broken-connection":
        from orchestration.demo_broken_connection import run_broken_connection_act

        act = run_broken_connection_act
    return run_demo(main, port=args.port, days=args.days, act=act)


def cmd_dev(args: argparse.Namespace) -> int:
    from orchestration.demo import run_dev

    extra = args.dagster_args
    return run_dev(extra[1:] if extra[:1] == ["--"] else extra)


def _add_tenant_commands(commands: Any) -> None:
    tenants = commands.add_parser("tenants", help="add and list tenants")
    sub = tenants.add_subparsers(dest="tenants_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="register a tenant")
    add.add_argument("--slug", required=True, help="tenant id: lowercase letters, digits, -")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument(
        "--internal-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="a domain of the tenant's own staff (repeatable)",
    )
    add.add_argument(
        "--blocked-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="a domain whose mail never counts as engagement (repeatable)",
    )
    add.add_argument("--time-zone", default="UTC", help="IANA time zone (default: UTC)")
    add.set_defaults(handler=cmd_tenants_add)

    list_ = sub.add_parser("list", help="list tenants")
    list_.add_argument("--json", action="store_true", help="print JSON")
    list_.set_defaults(handler=cmd_tenants_list)


def _add_connection_commands(commands: Any) -> None:
    connections = commands.add_parser("connections", help="add, list and inspect connections")
    sub = connections.add_subparsers(dest="connections_command", metavar="ACTION", required=True)

    add = sub.add_parser(
        "add", help="connect a mailbox (token from stdin or an env variable; owner checked)"
    )
    add.add_argument("--tenant", required=True, help="tenant slug")
    add.add_argument("--owner", required=True, help="mailbox owner's email address")
    add.add_argument("--provider", required=True, choices=PROVIDERS)
    add.add_argument(
        "--alias", action="append", default=[], help="another address of the owner (repeatable)"
    )
    add.add_argument(
        "--scope", action="append", default=[], help="an OAuth scope granted (repeatable)"
    )
    add.add_argument(
        "--authorized-at",
        metavar="ISO",
        help="when the owner granted access, e.g. 2026-11-01T09:00:00Z (default: now)",
    )
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--refresh-token-stdin", action="store_true", help="read the refresh token from stdin"
    )
    source.add_argument(
        "--refresh-token-env",
        metavar="VAR",
        help="read the refresh token from this environment variable",
    )
    add.set_defaults(handler=cmd_connections_add)

    list_ = sub.add_parser("list", help="list connections (never shows tokens)")
    list_.add_argument("--tenant", help="only this tenant's connections")
    list_.add_argument("--json", action="store_true", help="print JSON")
    list_.set_defaults(handler=cmd_connections_list)

    history = sub.add_parser("history", help="show a connection's status changes")
    history.add_argument("connection_id", metavar="CONNECTION_ID")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(handler=cmd_connections_history)

    link = sub.add_parser(
        "reconnect-link", help="print a fresh reconnect link for the mailbox's owner"
    )
    link.add_argument("connection_id", metavar="CONNECTION_ID")
    link.set_defaults(handler=cmd_connections_reconnect_link)

    disconnect = sub.add_parser(
        "disconnect", help="stop syncing a mailbox for good: status stopped, tokens deleted"
    )
    disconnect.add_argument("connection_id", metavar="CONNECTION_ID")
    disconnect.set_defaults(handler=cmd_connections_disconnect)


def open_warehouse(args: argparse.Namespace) -> Warehouse:
    """The warehouse the command works on, migrated (commands migrate on first use)."""
    warehouse = Warehouse(args.warehouse_url or settings.default_warehouse_url())
    warehouse.migrate()
    return warehouse


def cmd_generate_link_key(_args: argparse.Namespace) -> int:
    print(reconnect_links.generate_link_key())
    return 0


def cmd_connections_reconnect_link(args: argparse.Namespace) -> int:
    """Prints a fresh link (support hands it to the owner); earlier links stay valid until
    they expire or one of them completes a reconnect."""
    key = _link_key()
    with open_warehouse(args) as warehouse:
        connection = ConnectionStore(warehouse).get_connection(args.connection_id)
    if connection.status == ConnectionStatus.STOPPED:
        raise CommandError(
            f"connection {connection.connection_id} is disconnected; add the mailbox again instead"
        )
    now = datetime.now(UTC)
    token = reconnect_links.make_reconnect_token(connection.connection_id, key, now)
    print(reconnect_links.reconnect_url(reconnect_links.public_url_from_env(), token))
    expires = now + reconnect_links.link_ttl_from_env()
    print(
        f"for {connection.owner_email} ({connection.status.value}); valid until "
        f"{expires.isoformat(timespec='minutes')}",
        file=sys.stderr,
    )
    return 0


def cmd_connections_disconnect(args: argparse.Namespace) -> int:
    with open_warehouse(args) as warehouse:
        changed = ConnectionHealth(warehouse).disconnect(args.connection_id)
    state = "disconnected" if changed else "was already stopped;"
    print(f"{args.connection_id} {state} (status stopped, tokens deleted, history kept)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from orchestration.web import build_app, serve

    key = _link_key()
    public_url = reconnect_links.public_url_from_env()
    config = ReconnectConfig(key, reconnect_links.link_ttl_from_env(), public_url)
    port = args.port if args.port is not None else (urlsplit(public_url).port or 8080)
    warehouse = open_warehouse(args)
    try:
        registry = Registry(warehouse)
        registry.connections.cipher  # noqa: B018 - a missing key fails now, not at a callback
        service = ReconnectService(registry, _configured_provider_settings(), config)
        print(f"serving reconnect pages on http://{args.host}:{port} (links: {public_url})")
        serve(build_app(service), args.host, port)
    finally:
        warehouse.dispose()
    return 0


def _configured_provider_settings() -> dict[str, Any]:
    """Each configured provider's plain settings; unconfigured ones are left out (their
    connections' links then say the provider is not available)."""
    found = {}
    for name, kit in PROVIDERS.items():
        try:
            found[name] = kit.resource().process_config_and_initialize().settings()
        except dg.DagsterInvalidConfigError:
            continue
    return found


def _link_key() -> str:
    try:
        return reconnect_links.link_key_from_env()
    except reconnect_links.LinkKeyError as exc:
        raise CommandError(str(exc)) from None


def cmd_backfill(args: argparse.Namespace) -> int:
    with open_warehouse(args) as warehouse:
        return launch_from_args(args, warehouse)


def cmd_keygen(_args: argparse.Namespace) -> int:
    print(generate_key())
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Rotates every connection's tokens; names each one no key decrypts and exits 1 for them."""
    with open_warehouse(args) as warehouse:
        store = ConnectionStore(warehouse)
        cipher = store.cipher  # a missing or malformed key fails here, before any connection
        report = rotate_tokens(store, dry_run=args.dry_run)
    verb = "would re-encrypt" if args.dry_run else "re-encrypted"
    print(
        f"{verb} {report.reencrypted} of {report.total} connection(s) under the newest key; "
        f"{report.current} already were; {len(report.stranded)} left as they are"
    )
    for stranded in report.stranded:
        print(
            f"touchpoint: error: connection {stranded.connection_id} (tenant "
            f"{stranded.tenant_id}, {stranded.owner_email}): a stored token decrypts under none "
            "of the keys; left as it is (put its key back in the list, or reconnect the mailbox)",
            file=sys.stderr,
        )
    if report.stranded:
        return EXIT_INCOMPLETE
    if not args.dry_run and cipher.key_count > 1:
        print(
            "every stored token is under the newest key: once every process runs with it, the "
            "older key(s) can be removed from TOUCHPOINT_SECRET_KEY"
        )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    warehouse = Warehouse(args.warehouse_url or settings.default_warehouse_url())
    try:
        applied = warehouse.migrate()
        current = warehouse.applied_migrations()
    finally:
        warehouse.dispose()
    if applied:
        print(
            f"applied migration(s) {', '.join(map(str, applied))}; schema at version {current[-1]}"
        )
    else:
        print(f"schema already at version {current[-1]}")
    return 0


def cmd_tenants_add(args: argparse.Namespace) -> int:
    with open_warehouse(args) as warehouse:
        tenant = TenantStore(warehouse).add_tenant(
            args.slug,
            args.name,
            internal_domains=args.internal_domain,
            blocked_domains=args.blocked_domain,
            time_zone=args.time_zone,
        )
    print(f"added tenant {tenant.tenant_id} ({tenant.name})")
    return 0


def cmd_tenants_list(args: argparse.Namespace) -> int:
    with open_warehouse(args) as warehouse:
        tenants = TenantStore(warehouse).list_tenants()
    if args.json:
        print(json.dumps([_tenant_json(t) for t in tenants], indent=2))
        return 0
    _print_table(
        ["TENANT", "NAME", "TIME ZONE", "INTERNAL DOMAINS", "BLOCKED DOMAINS"],
        [
            [
                t.tenant_id,
                t.name,
                t.time_zone,
                ",".join(t.internal_domains),
                ",".join(t.blocked_domains),
            ]
            for t in tenants
        ],
    )
    return 0


def cmd_connections_add(args: argparse.Namespace) -> int:
    token = _read_refresh_token(args)
    authorized_at = _parse_aware_datetime(args.authorized_at) if args.authorized_at else None
    with open_warehouse(args) as warehouse:
        store = ConnectionStore(warehouse)
        # Mistakes we can see locally are reported before the provider is asked anything.
        TenantStore(warehouse).get_tenant(args.tenant)
        owner = normalise_email(args.owner, "owner email")
        aliases = [normalise_email(a, "alias") for a in args.alias]
        normalise_scopes(args.scope)
        if authorized_at is not None:
            validate_authorized_at(authorized_at)
        store.cipher  # noqa: B018 - a missing or malformed key fails here, not after the call
        _verify_token_owner(args.provider, owner, aliases, token)
        connection = store.add_connection(
            args.tenant,
            args.owner,
            args.provider,
            token,
            aliases=args.alias,
            scopes=args.scope,
            authorized_at=authorized_at,
        )
    print(connection.connection_id)
    return 0


def _verify_token_owner(provider: str, owner: str, aliases: list[str], token: str) -> None:
    """Refuse (storing nothing) a token its provider does not say belongs to the owner or an
    alias: a token is only ever used for the mailbox it was proven to belong to."""
    kit = PROVIDERS[provider]
    try:
        provider_settings = kit.resource().process_config_and_initialize().settings()
    except dg.DagsterInvalidConfigError:
        raise CommandError(
            f"cannot check whose token this is: the {provider} provider is not configured "
            "(see its TOUCHPOINT_* settings); nothing was stored"
        ) from None
    try:
        verify_token_owner(provider, provider_settings, owner, aliases, token)
    except ConnectionFailure as failure:
        if failure.cause_code == TOKEN_OWNER_MISMATCH:
            raise CommandError(f"{failure.explanation}; nothing was stored") from None
        raise CommandError(
            f"{kit.label} refused the token ({failure.status.value}, {failure.cause_code}); "
            "nothing was stored"
        ) from None


def cmd_connections_list(args: argparse.Namespace) -> int:
    with open_warehouse(args) as warehouse:
        connections = ConnectionStore(warehouse).list_connections(tenant_id=args.tenant)
    if args.json:
        print(json.dumps([_connection_json(c) for c in connections], indent=2))
        return 0
    _print_table(
        ["CONNECTION", "TENANT", "PROVIDER", "OWNER", "STATUS", "SINCE", "CAUSE"],
        [
            [
                c.connection_id,
                c.tenant_id,
                c.provider,
                c.owner_email,
                c.status.value,
                c.status_changed_at.isoformat(timespec="seconds"),
                c.status_cause_code or "",
            ]
            for c in connections
        ],
    )
    return 0


def cmd_connections_history(args: argparse.Namespace) -> int:
    with open_warehouse(args) as warehouse:
        changes = ConnectionHealth(warehouse).status_history(args.connection_id)
    rows = [
        {
            "changed_at": ch.changed_at.isoformat(),
            "previous_status": ch.previous_status.value if ch.previous_status else None,
            "status": ch.status.value,
            "cause_code": ch.cause_code,
            "explanation": ch.explanation,
        }
        for ch in changes
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    _print_table(
        ["CHANGED AT", "FROM", "TO", "CAUSE", "EXPLANATION"],
        [
            [
                r["changed_at"],
                r["previous_status"] or "-",
                r["status"],
                r["cause_code"] or "",
                r["explanation"] or "",
            ]
            for r in rows
        ],
    )
    return 0


def _read_refresh_token(args: argparse.Namespace) -> str:
    if args.refresh_token_stdin:
        token = sys.stdin.read().strip()
        if not token:
            raise CommandError("no refresh token on stdin")
        return token
    if not ENV_VAR_NAME_RE.fullmatch(args.refresh_token_env):
        raise CommandError(
            "--refresh-token-env takes the NAME of an environment variable holding the token "
            "(the value given is not shown)"
        )
    token = os.environ.get(args.refresh_token_env, "").strip()
    if not token:
        raise CommandError(f"environment variable {args.refresh_token_env} is unset or empty")
    return token


def _parse_aware_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"--authorized-at {short_repr(text)} is not an ISO 8601 date-time"
        ) from None
    if value.tzinfo is None:
        raise CommandError(
            f"--authorized-at {short_repr(text)} needs a time zone, e.g. 2026-11-01T09:00:00Z"
        )
    # Whether it lies in the future is the registry's rule, the same for every caller.
    return value


def _tenant_json(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant_id": tenant.tenant_id,
        "name": tenant.name,
        "internal_domains": list(tenant.internal_domains),
        "blocked_domains": list(tenant.blocked_domains),
        "time_zone": tenant.time_zone,
    }


def _connection_json(connection: Connection) -> dict[str, Any]:
    return {
        "connection_id": connection.connection_id,
        "tenant_id": connection.tenant_id,
        "owner_email": connection.owner_email,
        "aliases": list(connection.aliases),
        "provider": connection.provider,
        "scopes": list(connection.scopes),
        "authorized_at": connection.authorized_at.isoformat(),
        "status": connection.status.value,
        "status_changed_at": connection.status_changed_at.isoformat(),
        "status_cause_code": connection.status_cause_code,
        "status_explanation": connection.status_explanation,
    }


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    if not rows:
        print("(none)")
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _database_error_text(exc: sa.exc.DBAPIError) -> str:
    """The driver's own first line (e.g. 'connection refused'), without SQL or parameters."""
    original = exc.orig if exc.orig is not None else exc
    first_line = (str(original).strip().splitlines() or [type(original).__name__])[0]
    return f"warehouse database error: {first_line}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `touchpoint` console script; returns the exit code."""
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (
        BackfillError,
        CommandError,
        CrmFileError,
        RegistryError,
        SecretKeyError,
        settings.StateDirError,
        WarehouseError,
    ) as exc:
        message = str(exc)
    except sa.exc.DBAPIError as exc:
        message = _database_error_text(exc)
    print(f"touchpoint: error: {message}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
