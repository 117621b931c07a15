"""The deterministic synthetic workload: tenants, their CRM, connected mailboxes, mail, calendars.

Same (seed, now, parameters) -> byte-identical messages, ids and tokens, so tests and benchmarks
can compare runs. Each of the `days` complete UTC days before `now`'s date holds exactly
`messages_per_mailbox_per_day` messages per mailbox (drafts, spam and trash included; a message
delivered to two mailboxes counts once in each); with `include_today`, today's elapsed part gets
a proportional share. One tenant-day of 5,000 messages is
`generate_workload(tenants=1, mailboxes_per_tenant=5, days=1, messages_per_mailbox_per_day=1000,
include_today=False)`.

`providers` hands each tenant's mailboxes their provider round-robin (Google, Microsoft 365). Both
share one message model: the raw RFC 5322 bytes and Gmail-style labels (a Microsoft mailbox shows
labels as folders); only the ids differ (Gmail hex ids, Graph `AAMkA...` ids). Calendars come from
`sandbox.calendargen`, drawn from their own random streams so mail stays the same with or without
them.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sandbox import calendargen, msids, names
from sandbox.calendar_model import MasterEvent
from sandbox.mailgen import MessageSpec, build_message, encode_word, format_address
from sandbox.rfc822 import decode_text

GOOGLE_CLIENT_ID = "touchpoint-sandbox.apps.googleusercontent.com"
GOOGLE_CLIENT_SECRET = "sandbox-google-client-secret"
GMAIL_READONLY_SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
CALENDAR_READONLY_SCOPE = "https://www.googleapis.com/auth/calendar.readonly"
GOOGLE_SCOPES = (GMAIL_READONLY_SCOPE, CALENDAR_READONLY_SCOPE)

MICROSOFT_CLIENT_ID = "3f8a2c71-5b4e-4d9a-8e21-6c0f9b7d2a54"
MICROSOFT_CLIENT_SECRET = "sbx8Q~touchpoint-sandbox-microsoft-client-secret"
APP_CREDENTIALS = {
    "google": (GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET),
    "microsoft": (MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET),
}
"""The (client id, client secret) the sandbox accepts from each provider's app."""
GRAPH_MAIL_SCOPE = "https://graph.microsoft.com/Mail.Read"
GRAPH_CALENDARS_SCOPE = "https://graph.microsoft.com/Calendars.Read"
MICROSOFT_SCOPES = ("offline_access", GRAPH_MAIL_SCOPE, GRAPH_CALENDARS_SCOPE)
PROVIDERS = ("google", "microsoft")

USER_LABELS: dict[str, str] = {
    "Label_1": "Customers",
    "Label_2": "Renewals/2027",
    "Label_3": "Ärger & Eskalation",
}
"""Gmail user labels every sandbox mailbox has (id -> name)."""

DAY_MS = 86_400_000


@dataclass
class Account:
    account_id: str
    name: str
    domains: list[str]


@dataclass
class Contact:
    contact_id: str
    account_id: str
    name: str
    email: str


@dataclass
class Tenant:
    slug: str
    name: str
    internal_domains: list[str]
    blocked_domains: list[str]
    time_zone: str
    accounts: list[Account] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    entra_tenant_id: str = ""


@dataclass
class Mailbox:
    tenant: str
    address: str
    display_name: str
    aliases: list[str]
    provider: str
    refresh_token: str = field(repr=False)
    scopes: list[str] = field(default_factory=lambda: list(GOOGLE_SCOPES))
    entra_tenant_id: str | None = None
    user_id: str | None = None
    """Microsoft only: the Entra tenant and the user's object id (Graph `/users/{id}`)."""


@dataclass
class SandboxMessage:
    """One message in one mailbox, with what the truth knows about it.

    `subject`, `from_address`, `to_addresses` and `cc_addresses` are what a correct parser of
    `raw` must produce (decoded subject, bare lower-cased addresses). `kind` says why the
    generator made it (e.g. "reply", "shared", "blocked"); tests use it to find the nasty cases.
    """

    mailbox: str
    id: str
    thread_id: str
    label_ids: list[str]
    internal_date_ms: int
    raw: bytes = field(repr=False)
    internet_message_id: str | None
    subject: str | None
    from_address: str | None
    to_addresses: list[str]
    cc_addresses: list[str]
    kind: str = "injected"


@dataclass
class Workload:
    seed: int
    now: datetime
    tenants: list[Tenant]
    mailboxes: list[Mailbox]
    messages: dict[str, list[SandboxMessage]]
    days: list[date]
    events: dict[str, list[MasterEvent]] = field(default_factory=dict)
    providers: tuple[str, ...] = ("google",)

    @property
    def message_count(self) -> int:
        return sum(len(msgs) for msgs in self.messages.values())

    def mailbox(self, address: str) -> Mailbox:
        for mailbox in self.mailboxes:
            if mailbox.address == address.lower():
                return mailbox
        raise KeyError(address)

    def tenant(self, slug: str) -> Tenant:
        for tenant in self.tenants:
            if tenant.slug == slug:
                return tenant
        raise KeyError(slug)

    def all_messages(self) -> list[SandboxMessage]:
        return [msg for msgs in self.messages.values() for msg in msgs]

    def to_dict(self) -> dict[str, Any]:
        """What /_sandbox/workload serves: everything a consent flow would have given us."""
        return {
            "seed": self.seed,
            "now": self.now.isoformat(),
            "days": [d.isoformat() for d in self.days],
            "providers": list(self.providers),
            "google_client": {"client_id": GOOGLE_CLIENT_ID, "client_secret": GOOGLE_CLIENT_SECRET},
            "microsoft_client": {
                "client_id": MICROSOFT_CLIENT_ID,
                "client_secret": MICROSOFT_CLIENT_SECRET,
            },
            "tenants": [asdict(t) for t in self.tenants],
            "mailboxes": [
                {
                    **asdict(m),
                    "message_count": len(self.messages.get(m.address, [])),
                    "event_count": len(self.events.get(m.address, [])),
                }
                for m in self.mailboxes
            ],
        }


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


@dataclass
class _Person:
    name: str
    address: str  # as written in headers (may have mixed case)


@dataclass
class _Conversation:
    subject_header: str
    subject: str
    counterpart: _Person
    thread_id: str
    message_ids: list[str]
    last_ms: int
    last_from_owner: bool
    internal: bool


@dataclass
class _Staff:
    person: _Person
    aliases: list[str]


_KINDS = (
    ("inbound", 22),
    ("outbound", 14),
    ("from_alias", 5),
    ("reply", 16),
    ("internal", 11),
    ("stranger", 6),
    ("blocked", 5),
    ("shared", 7),
    ("draft", 4),
    ("spam", 4),
    ("trash", 3),
)
_KIND_NAMES = [k for k, _ in _KINDS]
_KIND_WEIGHTS = [w for _, w in _KINDS]
_SENDER_ZONES = (0, -8, -5, 1, 2, 5.5, 9)


class _Generator:
    def __init__(self, seed: int, now: datetime, providers: tuple[str, ...] = ("google",)) -> None:
        self.seed = seed
        self.providers = providers
        self.now = now
        self.now_ms = int(now.timestamp() * 1000)
        self.rng = random.Random(seed)
        self.used_ids: set[str] = set()

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
            gen = _TenantMail(self, tenant, tenant_boxes, staff[per_tenant:])
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
        _cross_tenant_copy(self.seed, tenants, mailboxes, messages)
        for msgs in messages.values():
            msgs.sort(key=lambda m: (m.internal_date_ms, m.id))
        return Workload(
            self.seed, self.now, tenants, mailboxes, messages, day_list, events, self.providers
        )

    def _tenant(self, index: int, per_tenant: int) -> tuple[Tenant, list[_Staff]]:
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
            staff.append(_Staff(_Person(display, f"{local}@{domain}"), aliases))
        return tenant, staff

    def _mailbox(self, tenant: Tenant, staff: _Staff, provider: str) -> Mailbox:
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

    def gmail_id(self, ms: int) -> str:
        """Like Gmail's: 16 hex digits that grow with time."""
        while True:
            value = ((ms << 20) | self.rng.getrandbits(20)) & 0xFFFF_FFFF_FFFF_FFFF
            candidate = f"{value:016x}"
            if candidate not in self.used_ids:
                self.used_ids.add(candidate)
                return candidate

    def message_id(self, domain: str) -> str:
        rng = self.rng
        if rng.random() < 0.3:
            token = "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+_=-")
                for _ in range(40)
            )
            return f"<CA{token}@mail.gmail.com>"
        return f"<{rng.getrandbits(64):016x}.{rng.getrandbits(24):06x}@{domain}>"


class _TenantMail:
    """Generates one tenant's mail, day by day, keeping conversations per mailbox."""

    def __init__(
        self, gen: _Generator, tenant: Tenant, boxes: list[Mailbox], extra_staff: list[_Staff]
    ) -> None:
        self.gen = gen
        self.rng = gen.rng
        self.tenant = tenant
        self.boxes = boxes
        self.zone = ZoneInfo(tenant.time_zone)
        self.colleagues = [_Person(b.display_name, b.address) for b in boxes] + [
            s.person for s in extra_staff
        ]
        self.contacts = [self._contact_person(c) for c in tenant.contacts]
        self.out: dict[str, list[SandboxMessage]] = {b.address: [] for b in boxes}
        self.convs: dict[str, list[_Conversation]] = {b.address: [] for b in boxes}
        self.needs_cross_provider = len({b.provider for b in boxes}) > 1

    def _contact_person(self, contact: Contact) -> _Person:
        local, _, domain = contact.email.partition("@")
        for _, _, people in names.CUSTOMERS:
            for person_name, original_local in people:
                if person_name == contact.name and original_local.lower() == local:
                    return _Person(contact.name, f"{original_local}@{domain}")
        return _Person(contact.name, contact.email)

    # ---- scheduling -------------------------------------------------------------------------

    def day(self, start_ms: int, per_box: int) -> None:
        rng = self.rng
        span = min(DAY_MS, self.gen.now_ms - start_ms)
        if span <= 0 or per_box <= 0:
            return
        full_day = span == DAY_MS
        slots: list[tuple[int, int]] = []
        for box_no in range(len(self.boxes)):
            offsets = sorted(rng.randrange(span) for _ in range(per_box))
            if box_no == 0:
                offsets[0] = 0
                if full_day and per_box > 1:
                    offsets[-1] = DAY_MS - 1
            else:
                if rng.random() < 0.3:
                    offsets[0] = rng.randint(0, 2500)
                if full_day and per_box > 1 and rng.random() < 0.3:
                    offsets[-1] = DAY_MS - rng.randint(1, 2500)
            offsets.sort()
            slots.extend((start_ms + off, box_no) for off in offsets)
        slots.sort()
        remaining: list[list[int]] = [[] for _ in self.boxes]
        for ms, box_no in slots:
            remaining[box_no].append(ms)
        consumed: list[set[int]] = [set() for _ in self.boxes]
        day_end = start_ms + span
        for position, (ms, box_no) in enumerate(slots):
            if position in consumed[box_no]:
                continue
            kind = rng.choices(_KIND_NAMES, _KIND_WEIGHTS)[0]
            if kind == "shared":
                partner = self._shared_partner(slots, position, box_no, consumed, day_end)
                if partner is None:
                    kind = "inbound"
                else:
                    self._shared(box_no, ms, partner)
                    continue
            self._single(kind, box_no, ms)

    def _shared_partner(
        self,
        slots: list[tuple[int, int]],
        position: int,
        box_no: int,
        consumed: list[set[int]],
        day_end: int,
    ) -> tuple[int, int] | None:
        """Another mailbox's next free slot, given up so the copy keeps the count exact."""
        ms = slots[position][0]
        delay = self.rng.randint(800, 4000)
        if ms + delay >= day_end or len(self.boxes) < 2:
            return None
        others = [b for b in range(len(self.boxes)) if b != box_no]
        if self.needs_cross_provider:
            # Guarantee one copy across providers per tenant; Google-only draws are unchanged.
            mine = self.boxes[box_no].provider
            others = [b for b in others if self.boxes[b].provider != mine] or others
        partner = self.rng.choice(others)
        for later in range(position + 1, len(slots)):
            if slots[later][1] == partner and later not in consumed[partner]:
                consumed[partner].add(later)
                return partner, ms + delay
        return None

    # ---- message kinds ----------------------------------------------------------------------

    def _owner(self, box_no: int) -> _Person:
        box = self.boxes[box_no]
        return _Person(box.display_name, box.address)

    def _subject(self) -> tuple[str | None, str | None]:
        """(header value as sent, decoded text)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.22:
            text, charset, enc = rng.choice(names.ENCODED_SUBJECTS)
            return encode_word(text, charset, enc), text
        if roll < 0.28:
            text, charset, enc = rng.choice(names.ENCODED_SUBJECTS)
            return f"FW: {encode_word(text, charset, enc)} (follow-up)", f"FW: {text} (follow-up)"
        if roll < 0.34:
            return names.LONG_SUBJECT, names.LONG_SUBJECT
        text = rng.choice(names.PLAIN_SUBJECTS)
        return text, text

    def _colleague(self, exclude: str) -> _Person:
        choices = [p for p in self.colleagues if p.address != exclude]
        return self.rng.choice(choices)

    def _account_contacts(self) -> list[_Person]:
        tenant = self.tenant
        account = self.rng.choice(tenant.accounts)
        return [
            self.contacts[i]
            for i, c in enumerate(tenant.contacts)
            if c.account_id == account.account_id
        ]

    def _single(self, kind: str, box_no: int, ms: int) -> None:
        rng = self.rng
        owner = self._owner(box_no)
        box = self.boxes[box_no]
        if kind == "reply":
            candidates = [c for c in self.convs[box.address][-20:] if c.last_ms < ms]
            if candidates:
                self._reply(box_no, ms, rng.choice(candidates))
                return
            kind = "inbound"
        if kind in ("inbound", "trash"):
            people = self._account_contacts()
            sender = rng.choice(people)
            to_addr = rng.choice(box.aliases) if rng.random() < 0.2 else owner.address
            cc = [p for p in people if p is not sender and rng.random() < 0.4]
            if rng.random() < 0.2:
                cc.append(self._colleague(owner.address))
            labels = self._inbox_labels() if kind == "inbound" else ["TRASH", "CATEGORY_PERSONAL"]
            self._new_thread(
                box_no, ms, kind, sender, [_Person(owner.name, to_addr)], cc, labels, False
            )
        elif kind in ("outbound", "from_alias", "draft"):
            people = self._account_contacts()
            to = rng.sample(people, k=min(len(people), rng.choice((1, 1, 2))))
            cc = [self._colleague(owner.address)] if rng.random() < 0.25 else []
            sender = owner
            if kind == "from_alias" or (kind == "outbound" and rng.random() < 0.1):
                sender = _Person(owner.name, rng.choice(box.aliases))
            labels = ["DRAFT"] if kind == "draft" else ["SENT"]
            no_subject = kind == "draft" and rng.random() < 0.3
            self._new_thread(box_no, ms, kind, sender, to, cc, labels, True, no_subject)
        elif kind == "internal":
            colleague = self._colleague(owner.address)
            cc = [self._colleague(owner.address)] if rng.random() < 0.3 else []
            cc = [p for p in cc if p.address != colleague.address]
            if rng.random() < 0.5:
                self._new_thread(
                    box_no,
                    ms,
                    kind,
                    colleague,
                    [owner],
                    cc,
                    self._inbox_labels(),
                    False,
                    subject=rng.choice(names.INTERNAL_SUBJECTS),
                )
            else:
                self._new_thread(
                    box_no,
                    ms,
                    kind,
                    owner,
                    [colleague],
                    cc,
                    ["SENT"],
                    True,
                    subject=rng.choice(names.INTERNAL_SUBJECTS),
                )
        elif kind == "stranger":
            name, address = rng.choice(names.STRANGERS)
            labels = ["INBOX", rng.choice(("CATEGORY_PROMOTIONS", "CATEGORY_UPDATES")), "UNREAD"]
            to = [] if rng.random() < 0.3 else [owner]
            self._new_thread(
                box_no,
                ms,
                kind,
                _Person(name, address),
                to,
                [],
                labels,
                False,
                subject=rng.choice(names.STRANGER_SUBJECTS),
            )
        elif kind == "blocked":
            name, local = rng.choice(names.BLOCKED_PEOPLE)
            outsider = _Person(name, f"{local}@{rng.choice(self.tenant.blocked_domains)}")
            if rng.random() < 0.5:
                self._new_thread(
                    box_no, ms, kind, outsider, [owner], [], self._inbox_labels(), False
                )
            else:
                self._new_thread(box_no, ms, kind, owner, [outsider], [], ["SENT"], True)
        elif kind == "spam":
            spammer = _Person("Prize Department", "winner@lottery-prize.example")
            subject_header = rng.choice(names.SPAM_SUBJECTS)
            self._new_thread(
                box_no,
                ms,
                kind,
                spammer,
                [owner],
                [],
                ["SPAM", "UNREAD"],
                False,
                subject=subject_header,
            )

    def _inbox_labels(self) -> list[str]:
        rng = self.rng
        labels = ["INBOX", "CATEGORY_PERSONAL"]
        if rng.random() < 0.4:
            labels.append("UNREAD")
        if rng.random() < 0.2:
            labels.append("IMPORTANT")
        if rng.random() < 0.25:
            labels.append(rng.choice(list(USER_LABELS)))
        return labels

    def _new_thread(
        self,
        box_no: int,
        ms: int,
        kind: str,
        sender: _Person,
        to: list[_Person],
        cc: list[_Person],
        labels: list[str],
        from_owner: bool,
        no_subject: bool = False,
        subject: str | None = None,
    ) -> None:
        if no_subject:
            subject_header, decoded = None, None
        elif subject is not None:
            subject_header, decoded = subject, _decode(subject)
        else:
            subject_header, decoded = self._subject()
        raw, mid = self._compose(sender, to, cc, subject_header, ms, from_owner, None, [])
        msg = self._store(box_no, ms, kind, raw, mid, None, labels, sender, to, cc, decoded)
        if kind in ("draft", "spam", "trash", "stranger"):
            return
        counterpart = to[0] if from_owner and to else sender
        self.convs[self.boxes[box_no].address].append(
            _Conversation(
                subject_header or "",
                decoded or "",
                counterpart,
                msg.thread_id,
                [mid],
                ms,
                from_owner,
                kind == "internal",
            )
        )

    def _reply(self, box_no: int, ms: int, conv: _Conversation) -> None:
        owner = self._owner(box_no)
        if conv.subject_header.lower().startswith("re:"):
            subject_header, decoded = conv.subject_header, conv.subject
        else:
            subject_header, decoded = f"Re: {conv.subject_header}", f"Re: {conv.subject}"
        if conv.last_from_owner:
            sender, to, labels = conv.counterpart, [owner], self._inbox_labels()
        else:
            sender, to, labels = owner, [conv.counterpart], ["SENT"]
        from_owner = sender is owner
        raw, mid = self._compose(
            sender, to, [], subject_header, ms, from_owner, conv.message_ids[-1], conv.message_ids
        )
        self._store(box_no, ms, "reply", raw, mid, conv.thread_id, labels, sender, to, [], decoded)
        conv.message_ids.append(mid)
        conv.last_ms = ms
        conv.last_from_owner = from_owner

    def _shared(self, box_no: int, ms: int, partner: tuple[int, int]) -> None:
        """One real message (same Message-ID) delivered to two mailboxes of the tenant."""
        partner_no, partner_ms = partner
        people = self._account_contacts()
        sender = self.rng.choice(people)
        to = [self._owner(box_no), self._owner(partner_no)]
        subject_header, decoded = self._subject()
        raw, mid = self._compose(sender, to, [], subject_header, ms, False, None, [])
        if self.boxes[box_no].provider != self.boxes[partner_no].provider:
            self.needs_cross_provider = False
        for number, when in ((box_no, ms), (partner_no, partner_ms)):
            msg = self._store(
                number,
                when,
                "shared",
                raw,
                mid,
                None,
                self._inbox_labels(),
                sender,
                to,
                [],
                decoded,
            )
            self.convs[self.boxes[number].address].append(
                _Conversation(
                    subject_header or "",
                    decoded or "",
                    sender,
                    msg.thread_id,
                    [mid],
                    when,
                    False,
                    False,
                )
            )

    # ---- bytes ------------------------------------------------------------------------------

    def _compose(
        self,
        sender: _Person,
        to: list[_Person],
        cc: list[_Person],
        subject_header: str | None,
        ms: int,
        from_owner: bool,
        in_reply_to: str | None,
        references: list[str],
    ) -> tuple[bytes, str]:
        rng = self.rng
        if from_owner:
            sent = datetime.fromtimestamp(ms / 1000, tz=self.zone)
        else:
            offset = timedelta(hours=rng.choice(_SENDER_ZONES))
            sent = datetime.fromtimestamp(ms / 1000 - rng.randint(1, 40), tz=timezone(offset))
        sent = sent.replace(microsecond=0)
        domain = sender.address.rpartition("@")[2].lower()
        mid = self.gen.message_id(domain)
        to_header = (
            ", ".join(format_address(p.name, p.address) for p in to)
            if to
            else "undisclosed-recipients:;"
        )
        cc_header = ", ".join(format_address(p.name, p.address) for p in cc) or None
        shape = rng.choices(("plain", "alternative", "attachment"), (6, 3, 1))[0]
        body = "\n".join(rng.sample(names.BODY_LINES, k=3)) + "\n\n-- \n" + sender.name + "\n"
        spec = MessageSpec(
            from_header=format_address(sender.name, sender.address),
            to_header=to_header,
            cc_header=cc_header,
            subject_header=subject_header,
            date=sent,
            message_id=mid,
            body_text=body,
            in_reply_to=in_reply_to,
            references=list(references),
            shape=shape,
            boundary=f"==sbx_{rng.getrandbits(64):016x}==",
        )
        return build_message(spec), mid

    def _store(
        self,
        box_no: int,
        ms: int,
        kind: str,
        raw: bytes,
        mid: str,
        thread_id: str | None,
        labels: list[str],
        sender: _Person,
        to: list[_Person],
        cc: list[_Person],
        subject: str | None,
    ) -> SandboxMessage:
        box = self.boxes[box_no]
        gmail_id = self.gen.gmail_id(ms)
        message_id, thread_id = provider_ids(box, gmail_id, thread_id)
        msg = SandboxMessage(
            mailbox=box.address,
            id=message_id,
            thread_id=thread_id,
            label_ids=list(labels),
            internal_date_ms=ms,
            raw=raw,
            internet_message_id=mid,
            subject=subject,
            from_address=sender.address.lower(),
            to_addresses=[p.address.lower() for p in to],
            cc_addresses=[p.address.lower() for p in cc],
            kind=kind,
        )
        self.out[box.address].append(msg)
        return msg


def _decode(header_value: str) -> str:
    return decode_text(header_value) or ""


def provider_ids(box: Mailbox, gmail_id: str, thread_id: str | None) -> tuple[str, str]:
    """(message id, thread id) as the mailbox's provider names them; a new thread starts with
    the message's own id (Gmail) or a conversation id derived from it (Graph)."""
    if box.provider != "microsoft":
        return gmail_id, thread_id or gmail_id
    user = box.user_id or box.address
    return msids.message_id(user, gmail_id), thread_id or msids.conversation_id(user, gmail_id)


def _cross_tenant_copy(
    seed: int,
    tenants: list[Tenant],
    mailboxes: list[Mailbox],
    messages: dict[str, list[SandboxMessage]],
) -> None:
    """One real message reaching two tenants: a stranger's mail to the first mailbox of tenants
    1 and 2 becomes one message (same Message-ID) addressed to both. Counts stay exact because
    existing "stranger" slots (never part of a conversation) are reused."""
    if len(tenants) < 2:
        return
    first = next(m for m in mailboxes if m.tenant == tenants[0].slug)
    second = next(m for m in mailboxes if m.tenant == tenants[1].slug)
    mine = [m for m in messages[first.address] if m.kind == "stranger"]
    theirs = [m for m in messages[second.address] if m.kind == "stranger"]
    if not mine or not theirs:
        return
    rng = random.Random(f"{seed}:cross-tenant")
    a = min(mine, key=lambda m: m.internal_date_ms)
    b = min(
        theirs,
        key=lambda m: (
            m.internal_date_ms < a.internal_date_ms,
            abs(m.internal_date_ms - a.internal_date_ms),
        ),
    )
    name, local = rng.choice(names.BLOCKED_PEOPLE)
    sender = f"{local}@industry-digest.example"
    subject = "Invitation: Customer Success Summit 2027"
    sent = datetime.fromtimestamp(a.internal_date_ms / 1000 - 5, tz=UTC).replace(microsecond=0)
    mid = f"<{rng.getrandbits(64):016x}.summit@industry-digest.example>"
    spec = MessageSpec(
        from_header=format_address(name, sender),
        to_header=", ".join(format_address(m.display_name, m.address) for m in (first, second)),
        cc_header=None,
        subject_header=subject,
        date=sent,
        message_id=mid,
        body_text="You are invited to the Customer Success Summit.\n",
        shape="plain",
    )
    raw = build_message(spec)
    for msg in (a, b):
        msg.raw = raw
        msg.internet_message_id = mid
        msg.subject = subject
        msg.from_address = sender
        msg.to_addresses = [first.address, second.address]
        msg.cc_addresses = []
        msg.kind = "cross_tenant"
