"""`touchpoint demo --act broken-connection`: after the demo's sync, one mailbox breaks and comes
back, the way its owner and a data engineer live it.

The mailbox's grant is revoked in the sandbox; the hourly path (today's run of its tenant) finds
it; a real `dagster-daemon` on the demo's instance evaluates `credential_failure_sensor`, whose
`connection_alert_job` run sends the owner's email to an SMTP server the act starts (aiosmtpd on
127.0.0.1), where it is printed; the act follows the email's Reconnect link over HTTP as a
browser would (the reconnect pages on uvicorn, the sandbox's consent screen, the callback);
`reconnect_recovery_sensor` launches the recovery backfill, the daemon runs it, the incident
closes and the resolved note arrives. Every step is stamped on a timeline. Nothing secret is
printed: the signed part of a link is elided.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import TypeVar

import dagster as dg
import requests
from aiosmtpd.controller import Controller
from dagster._core.execution.backfill import BulkActionStatus

from assets.partitions import tenant_day_key
from orchestration.demo import _stop_group
from orchestration.web import build_app, serving
from resources.alerts.smtp import SMTP_FROM_ENV, SMTP_HOST_ENV, SMTP_PORT_ENV, SMTP_SECURITY_ENV
from resources.providers import PROVIDERS
from resources.reconnect import ReconnectConfig, ReconnectService
from resources.reconnect_links import LINK_KEY_ENV, PUBLIC_URL_ENV, link_ttl_from_env
from resources.registry import Connection, Registry
from resources.settings import default_warehouse_url, state_dir
from resources.warehouse import Warehouse
from sandbox.server import SandboxServer
from sandbox.workload.model import Workload
from vocabulary.status import ConnectionStatus

WAIT_SECONDS = 900
"""How long the act waits for any one step: the daemon's sensors tick every 30-60 s and a run
starts in its own process, which a busy machine slows."""
BACKFILL_DONE = {
    BulkActionStatus.COMPLETED,
    BulkActionStatus.COMPLETED_SUCCESS,
    BulkActionStatus.COMPLETED_FAILED,
    BulkActionStatus.FAILED,
    BulkActionStatus.CANCELED,
}
LINK = re.compile(r"(https?://[^\s\"'<>]+/reconnect/)([A-Za-z0-9_\-.]+)")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


class MailCatcher:
    """An SMTP server's inbox (aiosmtpd handler): every message received, parsed."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        with self._lock:
            return list(self.received)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def local_smtp(inbox: MailCatcher | None = None) -> Iterator[tuple[int, MailCatcher]]:
    """A real SMTP server on 127.0.0.1 (no TLS, no login): its port and its inbox."""
    inbox = inbox or MailCatcher()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


def smtp_environment(port: int) -> dict[str, str]:
    """What points the alert job's SMTP resource at the local server."""
    return {
        SMTP_HOST_ENV: "127.0.0.1",
        SMTP_PORT_ENV: str(port),
        SMTP_SECURITY_ENV: "none",
        SMTP_FROM_ENV: "touchpoint-alerts@demo.example",
    }


def body_text(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    return part.get_content() if part is not None else ""


def reconnect_link(message: EmailMessage) -> str:
    """The one Reconnect link in the email's text."""
    found = LINK.search(body_text(message))
    if found is None:
        raise RuntimeError("the alert email holds no Reconnect link")
    return found.group(0)


def elide_links(text: str) -> str:
    """The text with each link's signed part replaced, for printing."""
    return LINK.sub(lambda m: f"{m.group(1)}<signed link>", text)


@dataclass(frozen=True)
class ReconnectWalk:
    """What a browser saw following a Reconnect link: the consent URL it was sent to, the
    callback the provider sent it back to, and the last page's status and text."""

    consent_url: str
    callback_url: str
    status: int
    page: str


def follow_reconnect_link(link: str, timeout: float = 120) -> ReconnectWalk:
    """Opens the link, presses Reconnect (the page's form POSTs to the link), goes to the
    provider's consent screen (the sandbox answers a login_hint at once), and back to the
    callback: every request a browser makes, over real HTTP, without the UI."""
    http = requests.Session()
    http.trust_env = False  # loopback only: never the machine's proxy
    with http:
        page = http.get(link, timeout=timeout)
        page.raise_for_status()
        started = http.post(link, allow_redirects=False, timeout=timeout)
        if started.status_code != 303:
            raise RuntimeError(f"the Reconnect button answered {started.status_code}")
        consent_url = started.headers["location"]
        consent = http.get(consent_url, allow_redirects=False, timeout=timeout)
        if consent.status_code != 302:
            raise RuntimeError(f"the consent screen answered {consent.status_code}")
        callback_url = consent.headers["location"]
        done = http.get(callback_url, timeout=timeout)
        return ReconnectWalk(consent_url, callback_url, done.status_code, done.text)


def wait_for(what: str, check: Callable[[], T | None], timeout: float = WAIT_SECONDS) -> T:
    """Polls `check` until it returns something truthy; fails naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def start_daemon(env: dict[str, str], workspace: Path, log: Path) -> subprocess.Popen:
    """`dagster-daemon run` in its own process group (so stopping it stops its code server and
    run workers too), output to `log`."""
    with log.open("w") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
            cwd=workspace.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_daemon(proc: subprocess.Popen) -> None:
    """Stops the daemon's process group, whatever state it is in, and any run worker of the
    group it left behind."""
    _stop_group(proc)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def write_workspace(folder: Path) -> Path:
    """A workspace loading the code location from this checkout, wherever the demo runs."""
    path = folder / "workspace.yaml"
    path.write_text(
        "load_from:\n  - python_module:\n      module_name: orchestration.definitions\n"
        f"      working_directory: {PROJECT_ROOT}\n      location_name: touchpoint\n"
    )
    return path


def incident_backfill(instance: dg.DagsterInstance, incident_id: int):
    """The recovery backfill the sensor launched for the incident, once there is one."""
    for backfill in instance.get_backfills():
        if backfill.tags.get("touchpoint/incident") == str(incident_id):
            return backfill
    return None


def backfill_days(backfill) -> list[str]:
    """The UTC days the backfill's raw_emails partitions cover."""
    subset = backfill.asset_backfill_data.target_subset
    keys = subset.get_partitions_subset(dg.AssetKey("raw_emails")).get_partition_keys()
    return sorted({str(k).split("|")[0] for k in keys})


@dataclass
class Timeline:
    """Each step with its time, printed as it happens and again at the end."""

    steps: list[tuple[datetime, str]] = field(default_factory=list)

    def __call__(self, text: str) -> None:
        now = datetime.now(UTC)
        self.steps.append((now, text))
        print(f"    [{now:%H:%M:%S}] {text}", flush=True)

    def print(self) -> None:
        print("\n==> timeline (UTC)")
        start = self.steps[0][0]
        for moment, text in self.steps:
            seconds = (moment - start).total_seconds()
            print(f"{moment:%H:%M:%S}  +{seconds:6.1f}s  {text}")


def _print_email(message: EmailMessage, recipients: list[str]) -> None:
    print(f"\n    ---- email to {', '.join(recipients)} ----")
    print(f"    Subject: {message['Subject']}")
    for line in elide_links(body_text(message)).strip().splitlines():
        print(f"    | {line}")
    print("    ----")


def _mail_and_meetings(
    warehouse: Warehouse, connection: Connection, day: str
) -> tuple[set[str], set[str]]:
    """Provider ids of the connection's raw messages and meetings on the day."""
    found = []
    for table, column in (
        ("raw_emails", "provider_message_id"),
        ("raw_meetings", "provider_event_id"),
    ):
        t = warehouse.table(table)
        with warehouse.engine.connect() as conn:
            rows = conn.execute(
                t.select().where(
                    t.c.connection_id == connection.connection_id,
                    t.c.partition_day == datetime.fromisoformat(day).date(),
                )
            ).all()
        found.append({getattr(r, column) for r in rows})
    return found[0], found[1]


def _sandbox_truth(sandbox: SandboxServer, address: str, day: str) -> tuple[set[str], set[str]]:
    start = datetime.fromisoformat(day).replace(tzinfo=UTC)
    end = start + timedelta(days=1)
    mail = {t["id"] for t in sandbox.state.truth(address, start, end)}
    meetings = {t["event_id"] for t in sandbox.state.truth_events(address, start, end)}
    return mail, meetings


def _pick_mailbox(workload: Workload, sandbox: SandboxServer, day: str) -> str:
    """The first tenant's mailbox with the most mail on the day: the break shows most there."""
    tenant = workload.tenants[0].slug
    boxes = [m.address for m in workload.mailboxes if m.tenant == tenant]
    return max(boxes, key=lambda a: len(_sandbox_truth(sandbox, a, day)[0]))


def run_broken_connection_act(workload: Workload, sandbox: SandboxServer, today: str) -> int:
    """The act, against the demo's state (environment set by `run_demo`); returns the exit code."""
    print("\n==> act: a broken connection, detected, reported, reconnected and recovered")
    timeline = Timeline()
    warehouse = Warehouse(default_warehouse_url())
    registry = Registry(warehouse)
    address = _pick_mailbox(workload, sandbox, today)
    tenant = next(m.tenant for m in workload.mailboxes if m.address == address)
    (connection,) = [
        c for c in registry.connections.list_connections(tenant) if c.owner_email == address
    ]
    settings = {
        name: kit.resource().process_config_and_initialize().settings()
        for name, kit in PROVIDERS.items()
    }
    home = state_dir()
    proc = None
    try:
        with (
            local_smtp() as (smtp_port, inbox),
            serving(
                lambda base: build_app(
                    ReconnectService(
                        registry,
                        settings,
                        ReconnectConfig(os.environ[LINK_KEY_ENV], link_ttl_from_env(), base),
                    )
                )
            ) as pages_url,
        ):
            os.environ.update({**smtp_environment(smtp_port), PUBLIC_URL_ENV: pages_url})
            timeline(f"SMTP server on 127.0.0.1:{smtp_port}, reconnect pages on {pages_url}")
            log = home / "dagster-daemon.log"
            proc = start_daemon(dict(os.environ), write_workspace(home), log)
            timeline(f"dagster-daemon started (pid {proc.pid}, log {log})")
            return _act(timeline, workload, sandbox, registry, connection, today, inbox)
    finally:
        if proc is not None:
            stop_daemon(proc)
            timeline("dagster-daemon stopped")
        # The sandbox forgets the grant the reconnect issued when it stops; the next demo's
        # sandbox honours the seeded one again, so the next demo syncs this mailbox as before.
        seeded = next(m.refresh_token for m in workload.mailboxes if m.address == address)
        registry.connections.replace_refresh_token(connection.connection_id, seeded)
        warehouse.dispose()
        if timeline.steps:
            timeline.print()


def _act(
    timeline: Timeline,
    workload: Workload,
    sandbox: SandboxServer,
    registry: Registry,
    connection: Connection,
    today: str,
    inbox: MailCatcher,
) -> int:
    from orchestration.definitions import defs

    instance = dg.DagsterInstance.get()
    address, tenant = connection.owner_email, connection.tenant_id
    revoked = sandbox.state.revoke_refresh_tokens(address)
    timeline(f"{address} revoked Touchpoint's access at the provider ({revoked} grant(s))")

    result = defs.resolve_job_def("tenant_sync_job").execute_in_process(
        partition_key=tenant_day_key(tenant, today),
        instance=instance,
        tags={"touchpoint/trigger": "demo"},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=False,
    )
    broken = registry.connections.get_connection(connection.connection_id)
    timeline(
        f"hourly sync of {tenant} {today}: run {result.run_id[:8]} "
        f"{'succeeded' if result.success else 'FAILED'}; {address} is {broken.status.value} "
        f"({broken.status_cause_code})"
    )
    incident = registry.incidents.open_incident(tenant, connection.connection_id)
    if broken.status is not ConnectionStatus.INVALID_CREDENTIALS or incident is None:
        print("    the sync did not notice the revoked grant", file=sys.stderr)
        return 1
    timeline(f"incident {incident.incident_id} open; waiting for credential_failure_sensor")

    recipients, alert = wait_for("the alert email", lambda: next(iter(inbox.messages()), None))
    timeline(f"alert email received by the SMTP server: {alert['Subject']!r}")
    _print_email(alert, recipients)

    walk = follow_reconnect_link(reconnect_link(alert))
    timeline(f"the owner opened the link and pressed Reconnect -> {walk.consent_url.split('?')[0]}")
    timeline(f"consent given; back at {walk.callback_url.split('?')[0]}: HTTP {walk.status}")
    back = registry.connections.get_connection(connection.connection_id)
    timeline(f"{address} is {back.status.value} again ({back.status_cause_code})")
    if back.status is not ConnectionStatus.ACTIVE:
        return 1

    backfill = wait_for(
        "the recovery backfill", lambda: incident_backfill(instance, incident.incident_id)
    )
    timeline(
        f"reconnect_recovery_sensor launched backfill {backfill.backfill_id} "
        f"(tag touchpoint/incident={incident.incident_id}) of {', '.join(backfill_days(backfill))}"
    )
    finished = wait_for(
        "the recovery backfill to finish",
        lambda: (
            (b := instance.get_backfill(backfill.backfill_id)) and b.status in BACKFILL_DONE and b
        ),
    )
    timeline(f"backfill {finished.backfill_id} {finished.status.value.lower()}")
    closed = wait_for(
        "the incident to close",
        lambda: (i := registry.incidents.get(incident.incident_id)).closed_at and i,
    )
    timeline(f"incident {closed.incident_id} closed ({closed.closed_reason})")

    recipients, resolved = wait_for(
        "the resolved email", lambda: (m := inbox.messages())[1:] and m[1]
    )
    timeline(f"resolved email received: {resolved['Subject']!r}")
    _print_email(resolved, recipients)

    held = _mail_and_meetings(registry.warehouse, connection, today)
    truth = _sandbox_truth(sandbox, address, today)
    same = held == truth
    timeline(
        f"warehouse {'equals' if same else 'DIFFERS FROM'} the sandbox's truth for {address} on "
        f"{today}: {len(held[0])} of {len(truth[0])} messages, {len(held[1])} of "
        f"{len(truth[1])} meetings"
    )
    sent = len(inbox.messages())
    timeline(f"emails received in all: {sent} (one alert, one resolved note)")
    return 0 if same and sent == 2 else 1
