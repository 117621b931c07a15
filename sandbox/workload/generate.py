"""Generates the deterministic synthetic workload: tenants, their CRM, mailboxes, mail, calendars.

Same (seed, now, parameters) -> byte-identical messages, ids and tokens, so tests and benchmarks
can compare runs. Each of the `days` complete UTC days before `now`'s date holds exactly
`messages_per_mailbox_per_day` messages per mailbox (drafts, spam and trash included; a message
delivered to two mailboxes counts once in each); with `include_today`, today's elapsed part gets
a proportional share. One tenant-day of 5,000 messages is
`generate_workload(tenants=1, mailboxes_per_tenant=5, days=1, messages_per_mailbox_per_day=1000,
include_today=False)`.

`providers` hands each tenant's mailboxes their provider round-robin (Google, Microsoft 365). Both
share one message model: the raw RFC 5322 bytes and Gmail-style labels (a Microsoft mailbox shows
labels as folders); only the ids differ (Gmail hex ids, Graph `AAMkA...` ids). This module draws
the tenants and mailboxes; the mail comes from `sandbox.workload.tenant_mail` and the calendars
from `sandbox.workload.calendargen`, drawn from their own random streams so mail stays the same
with or without them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sandbox.workload import calendargen, msids, names
from sandbox.workload.calendar_model import MasterEvent
from sandbox.workload.crm import add_crm_edge_cases
from sandbox.workload.message_ids import MessageIds
from sandbox.workload.model import (
    DAY_MS,
    GOOGLE_SCOPES,
    MICROSOFT_SCOPES,
    PROVIDERS,
    Account,
    Contact,
    Mailbox,
    SandboxMessage,
    Tenant,
    Workload,
)
from sandbox.workload.tenant_mail import Person, Staff, TenantMail, cross_tenant_copy


def floor_hour(moment: datetime) -> datetime:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def generate_workload(
    seed: int = 7,
    now: datetime | None = None,
    tenants: int = 3,
    mailboxes_per_tenant: int = 4,
    days: int = 14,
    messages_per_mailbox_per_day: int = 20,
    *,
    include_today: bool = True,
    providers: Sequence[str] = ("google",),
) -> Workload:
    """Builds the workload; `now` defaults to the current UTC hour (floored).

    Each tenant's mailboxes take their provider from `providers` round-robin, so
    `("google", "microsoft")` gives every tenant both kinds.
    """
    providers = tuple(providers)
    if not providers or set(providers) - set(PROVIDERS):
        raise ValueError(f"providers must be drawn from {PROVIDERS}")
    if now is None:
        now = floor_hour(datetime.now(UTC))
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    now = now.astimezone(UTC)
    return _Generator(seed, now, providers).run(
        tenants, mailboxes_per_tenant, days, messages_per_mailbox_per_day, include_today
    )


class _Generator:
    """Draws tenants, staff and mailboxes from one random stream, then each tenant's mail and
    calendars; the order of draws is part of the determinism contract."""

    def __init__(self, seed: int, now: datetime, providers: tuple[str, ...] = ("google",)) -> None:
        self.seed = seed
        self.providers = providers
        self.now = now
        self.now_ms = int(now.timestamp() * 1000)
        self.rng = random.Random(seed)
        self.ids = MessageIds(self.rng)

    def run(
        self, n_tenants: int, per_tenant: int, n_days: int, per_day: int, include_today: bool
    ) -> Workload:
        today = self.now.date()
        day_list = [today - timedelta(days=n_days - i) for i in range(n_days)]
        spans: list[tuple[date, int, int]] = []
        for d in day_list:
            start = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
            spans.append((d, start, per_day))
        if include_today:
            start = int(datetime(today.year, today.month, today.day, tzinfo=UTC).timestamp() * 1000)
            elapsed = self.now_ms - start
            share = round(per_day * elapsed / DAY_MS)
            if share > 0:
                spans.append((today, start, share))
                day_list.append(today)
        tenants: list[Tenant] = []
        mailboxes: list[Mailbox] = []
        messages: dict[str, list[SandboxMessage]] = {}
        events: dict[str, list[MasterEvent]] = {}
        for index in range(n_tenants):
            tenant, staff = self._tenant(index, per_tenant)
            tenants.append(tenant)
            tenant_boxes = [
                self._mailbox(tenant, s, self.providers[n % len(self.providers)])
                for n, s in enumerate(staff[:per_tenant])
            ]
            mailboxes.extend(tenant_boxes)
            gen = TenantMail(
                self.rng, self.now_ms, self.ids, tenant, tenant_boxes, staff[per_tenant:]
            )
            for _, start, count in spans:
                gen.day(start, count)
            for box in tenant_boxes:
                messages[box.address] = gen.out[box.address]
            extra = [(s.person.name, s.person.address) for s in staff[per_tenant:]]
            events.update(
                calendargen.tenant_calendars(
                    self.seed, self.now, tenant, tenant_boxes, extra, day_list
                )
            )
        cross_tenant_copy(self.seed, tenants, mailboxes, messages)
        for msgs in messages.values():
            msgs.sort(key=lambda m: (m.internal_date_ms, m.id))
        return Workload(
            self.seed, self.now, tenants, mailboxes, messages, day_list, events, self.providers
        )

    def _tenant(self, index: int, per_tenant: int) -> tuple[Tenant, list[Staff]]:
        rng = self.rng
        if index < len(names.TENANTS):
            spec = names.TENANTS[index]
        else:
            spec = names.TenantSpec(
                f"tenant-{index + 1}",
                f"Tenant {index + 1}",
                (f"tenant{index + 1}.example",),
                ("rival-widgets.example",),
                names.ZONES[index % len(names.ZONES)],
            )
        tenant = Tenant(
            spec.slug,
            spec.name,
            list(spec.internal_domains),
            list(spec.blocked_domains),
            spec.time_zone,
        )
        if "microsoft" in self.providers:
            tenant.entra_tenant_id = msids.guid("tenant", self.seed, spec.slug)
        picked = rng.sample(names.CUSTOMERS, k=min(6, len(names.CUSTOMERS)))
        contact_no = 0
        for acc_no, (acc_name, domains, people) in enumerate(picked, start=1):
            account = Account(f"{spec.slug}-acc-{acc_no:03d}", acc_name, list(domains))
            tenant.accounts.append(account)
            for person_no, (person_name, local) in enumerate(people):
                contact_no += 1
                domain = domains[person_no % len(domains)]
                tenant.contacts.append(
                    Contact(
                        f"{spec.slug}-con-{contact_no:04d}",
                        account.account_id,
                        person_name,
                        f"{local}@{domain}".lower(),
                    )
                )
        add_crm_edge_cases(tenant)
        needed = per_tenant + 2
        pool = list(names.STAFF)
        rng.shuffle(pool)
        while len(pool) < needed:
            n = len(pool) + 1
            pool.append((f"Staff Member {n}", f"staff{n}"))
        domain = spec.internal_domains[0]
        staff = []
        for display, local in pool[:needed]:
            aliases = [f"{local.split('.')[0]}@{domain}"]
            if len(spec.internal_domains) > 1:
                aliases.append(f"{local}@{spec.internal_domains[1]}")
            staff.append(Staff(Person(display, f"{local}@{domain}"), aliases))
        return tenant, staff

    def _mailbox(self, tenant: Tenant, staff: Staff, provider: str) -> Mailbox:
        digest = hashlib.sha256(f"{self.seed}:{staff.person.address}".encode()).hexdigest()
        if provider == "microsoft":
            return Mailbox(
                tenant=tenant.slug,
                address=staff.person.address,
                display_name=staff.person.name,
                aliases=list(staff.aliases),
                provider="microsoft",
                refresh_token=f"0.AXsbx-{digest[:96]}",
                scopes=list(MICROSOFT_SCOPES),
                entra_tenant_id=tenant.entra_tenant_id,
                user_id=msids.guid("user", self.seed, staff.person.address),
            )
        return Mailbox(
            tenant=tenant.slug,
            address=staff.person.address,
            display_name=staff.person.name,
            aliases=list(staff.aliases),
            provider="google",
            refresh_token=f"1//sbx-{digest[:48]}",
            scopes=list(GOOGLE_SCOPES),
        )
