"""`touchpoint explain`: why a message (by Message-ID) or a meeting (by iCalUID) is or is not
logged against each CRM account, answered from the warehouse (resources/explain/).

Exit 0 with the explanation, also when no mailbox has the item (the output then lists what can
cause that); 2 with one line for an unknown tenant or an unusable warehouse (cli.main).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from resources.explain.rendering import render_json, render_text
from resources.explain.service import explain_meeting, explain_message
from resources.warehouse import Warehouse


def add_explain_command(
    commands: Any, open_warehouse: Callable[[argparse.Namespace], Warehouse]
) -> None:
    """Adds `explain` to the `touchpoint` subcommands."""
    explain = commands.add_parser(
        "explain",
        help="why an email or a meeting is (not) logged against each CRM account",
        description=(
            "Which connected mailboxes saw it and when, whether it was synced, removed or "
            "quarantined, and for each CRM account whether it is logged or which rule kept it "
            "out (see docs/analytics.md)."
        ),
    )
    explain.add_argument("--tenant", required=True, help="tenant slug")
    what = explain.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--message-id", metavar="ID", help="the email's Message-ID header, e.g. '<abc@host>'"
    )
    what.add_argument("--meeting", metavar="ICALUID", help="the meeting's iCalUID")
    explain.add_argument("--json", action="store_true", help="print JSON")
    explain.set_defaults(handler=lambda args: cmd_explain(args, open_warehouse))


def cmd_explain(
    args: argparse.Namespace, open_warehouse: Callable[[argparse.Namespace], Warehouse]
) -> int:
    with open_warehouse(args) as warehouse:
        if args.message_id is not None:
            explanation = explain_message(warehouse, args.tenant, args.message_id)
        else:
            explanation = explain_meeting(warehouse, args.tenant, args.meeting)
    if args.json:
        print(json.dumps(render_json(explanation), indent=2))
    else:
        print(render_text(explanation))
    return 0
