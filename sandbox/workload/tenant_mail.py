"""One tenant's synthetic mail, day by day, and the one message that crosses tenants.

Conversations are kept per mailbox so replies thread; message kinds ("inbound", "reply",
"shared", "blocked", ...) are drawn with fixed weights so the nasty cases a sync must survive
(aliases, encoded subjects, drafts, spam, one message in two mailboxes, across providers) appear
in every run. All draws come from the generator's random stream, in a fixed order: the same
seed gives the same bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sandbox.workload import names
from sandbox.workload.mailgen import MessageSpec, build_message, encode_word, format_address
from sandbox.workload.message_ids import MessageIds, provider_ids
from sandbox.workload.model import DAY_MS, USER_LABELS, Contact, Mailbox, SandboxMessage, Tenant
from sandbox.workload.rfc822 import decode_text


@dataclass
class Person:
    """Someone as a header names them."""

    name: str
    address: str  # as written in headers (may have mixed case)


@dataclass
class _Conversation:
    """A thread in one mailbox that later messages can reply to."""

    subject_header: str
    subject: str
    counterpart: Person
    thread_id: str
    message_ids: list[str]
    last_ms: int
    last_from_owner: bool
    internal: bool


@dataclass
class Staff:
    """A colleague at the tenant, with the aliases mail may be addressed to."""

    person: Person
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


class TenantMail:
    """Generates one tenant's mail, day by day, keeping conversations per mailbox."""

    def __init__(
        self,
        rng: random.Random,
        now_ms: int,
        ids: MessageIds,
        tenant: Tenant,
        boxes: list[Mailbox],
        extra_staff: list[Staff],
    ) -> None:
        self.rng = rng
        self.now_ms = now_ms
        self.ids = ids
        self.tenant = tenant
        self.boxes = boxes
        self.zone = ZoneInfo(tenant.time_zone)
        self.colleagues = [Person(b.display_name, b.address) for b in boxes] + [
            s.person for s in extra_staff
        ]
        self.contacts = [self._contact_person(c) for c in tenant.contacts]
        self.out: dict[str, list[SandboxMessage]] = {b.address: [] for b in boxes}
        self.convs: dict[str, list[_Conversation]] = {b.address: [] for b in boxes}
        self.needs_cross_provider = len({b.provider for b in boxes}) > 1

    def _contact_person(self, contact: Contact) -> Person:
        local, _, domain = contact.email.partition("@")
        for _, _, people in names.CUSTOMERS:
            for person_name, original_local in people:
                if person_name == contact.name and original_local.lower() == local:
                    return Person(contact.name, f"{original_local}@{domain}")
        return Person(contact.name, contact.email)

    # ---- scheduling -------------------------------------------------------------------------

    def day(self, start_ms: int, per_box: int) -> None:
        rng = self.rng
        span = min(DAY_MS, self.now_ms - start_ms)
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

    def _owner(self, box_no: int) -> Person:
        box = self.boxes[box_no]
        return Person(box.display_name, box.address)

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

    def _colleague(self, exclude: str) -> Person:
        choices = [p for p in self.colleagues if p.address != exclude]
        return self.rng.choice(choices)

    def _account_contacts(self) -> list[Person]:
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
                box_no, ms, kind, sender, [Person(owner.name, to_addr)], cc, labels, False
            )
        elif kind in ("outbound", "from_alias", "draft"):
            people = self._account_contacts()
            to = rng.sample(people, k=min(len(people), rng.choice((1, 1, 2))))
            cc = [self._colleague(owner.address)] if rng.random() < 0.25 else []
            sender = owner
            if kind == "from_alias" or (kind == "outbound" and rng.random() < 0.1):
                sender = Person(owner.name, rng.choice(box.aliases))
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
                Person(name, address),
                to,
                [],
                labels,
                False,
                subject=rng.choice(names.STRANGER_SUBJECTS),
            )
        elif kind == "blocked":
            name, local = rng.choice(names.BLOCKED_PEOPLE)
            outsider = Person(name, f"{local}@{rng.choice(self.tenant.blocked_domains)}")
            if rng.random() < 0.5:
                self._new_thread(
                    box_no, ms, kind, outsider, [owner], [], self._inbox_labels(), False
                )
            else:
                self._new_thread(box_no, ms, kind, owner, [outsider], [], ["SENT"], True)
        elif kind == "spam":
            spammer = Person("Prize Department", "winner@lottery-prize.example")
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
        sender: Person,
        to: list[Person],
        cc: list[Person],
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
        sender: Person,
        to: list[Person],
        cc: list[Person],
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
        mid = self.ids.message_id(domain)
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
        sender: Person,
        to: list[Person],
        cc: list[Person],
        subject: str | None,
    ) -> SandboxMessage:
        box = self.boxes[box_no]
        gmail_id = self.ids.gmail_id(ms)
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


def cross_tenant_copy(
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
