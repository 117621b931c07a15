"""`python -m sandbox serve --port 8765 --seed 7`: the sandbox in the foreground.

Prints the base URL on stdout, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime
from types import FrameType

from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="touchpoint-sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the provider sandbox over HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--seed", type=int, default=7)
    serve.add_argument("--tenants", type=int, default=3)
    serve.add_argument("--mailboxes-per-tenant", type=int, default=4)
    serve.add_argument("--days", type=int, default=14)
    serve.add_argument("--messages-per-mailbox-per-day", type=int, default=20)
    serve.add_argument(
        "--now",
        type=datetime.fromisoformat,
        default=None,
        help="anchor of the workload (ISO time; default: this UTC hour); same seed+now, same mail",
    )
    serve.add_argument(
        "--no-today", action="store_true", help="only complete UTC days, nothing from today"
    )
    serve.add_argument(
        "--providers",
        default="google,microsoft",
        help="comma-separated, handed to each tenant's mailboxes round-robin (google,microsoft)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    workload = generate_workload(
        seed=args.seed,
        now=args.now,
        tenants=args.tenants,
        mailboxes_per_tenant=args.mailboxes_per_tenant,
        days=args.days,
        messages_per_mailbox_per_day=args.messages_per_mailbox_per_day,
        include_today=not args.no_today,
        providers=[p.strip() for p in args.providers.split(",") if p.strip()],
    )
    server = SandboxServer(workload, host=args.host, port=args.port)

    def _stop(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=server.stop, daemon=True).start()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(server.base_url, flush=True)
    print(
        f"sandbox: {len(workload.tenants)} tenants, {len(workload.mailboxes)} mailboxes, "
        f"{workload.message_count} messages, "
        f"{sum(len(e) for e in workload.events.values())} calendar entries; Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
