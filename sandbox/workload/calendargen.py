"""Deterministic calendars for a tenant's connected mailboxes.

Per mailbox, over the workload's days: meetings the owner organises with a CRM account's
contacts (and sometimes a colleague), meetings others organise, all-day and multi-day events,
a weekly series in America/New_York that starts five weeks before the first day (so it spans a
DST change around late October / early November), the tenant's daily stand-up organised by its
first mailbox and attended by all the others (one series on several connected calendars),
cancelled meetings, meetings across UTC midnight, and one internal meeting per pair of
neighbouring mailboxes. Series carry one moved and one cancelled occurrence. Each tenant draws
from its own random stream (`"{seed}:calendar:{slug}"`), independent of the mail.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox.workload import msids
from sandbox.workload.calendar_ids import google_event_id
from sandbox.workload.calendar_model import Invitee, MasterEvent, Override, expand
from sandbox.workload.model import Mailbox, Tenant

EXTERNAL_SUBJECTS = (
    "Quarterly business review",
    "Renewal discussion",
    "Onboarding kickoff",
    "Roadmap preview",
    "Pricing follow-up",
    "Security questionnaire walkthrough",
    "Déjeuner d'affaires",
    "Implementation check-in",
)
INTERNAL_SUBJECTS = ("Pipeline review", "Account planning", "1:1", "Deal desk", "Hiring sync")
ALL_DAY_SUBJECTS = ("Customer offsite", "Out of office", "Public holiday")
MULTI_DAY_SUBJECTS = ("SaaStr Europa conference", "Sales kickoff", "Trade fair — Hannover")
FOREIGN_ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Asia/Kolkata",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Australia/Sydney",
)
_RESPONSE_WEIGHTS = (("accepted", 5), ("tentative", 2), ("declined", 2), ("none", 3))


def tenant_calendars(
    seed: int,
    now: datetime,
    tenant: Tenant,
    boxes: list[Mailbox],
    extra_staff: list[tuple[str, str]],
    days: list[date],
) -> dict[str, list[MasterEvent]]:
    """address -> master events on that mailbox's calendar (shared events appear in several)."""
    return _TenantCalendars(seed, now, tenant, boxes, extra_staff, days).run()


class _TenantCalendars:
    def __init__(
        self,
        seed: int,
        now: datetime,
        tenant: Tenant,
        boxes: list[Mailbox],
        extra_staff: list[tuple[str, str]],
        days: list[date],
    ) -> None:
        self.seed = seed
        self.now = now
        self.tenant = tenant
        self.boxes = boxes
        self.extra = extra_staff or [("Pat Doe", f"pat.doe@{tenant.internal_domains[0]}")]
        self.days = days
        self.rng = random.Random(f"{seed}:calendar:{tenant.slug}")
        self.out: dict[str, list[MasterEvent]] = {b.address: [] for b in boxes}
        self.counter = 0
        self.by_address = {b.address: b for b in boxes}

    # ---- plumbing ------------------------------------------------------------------------

    def _uid(self, organizer_email: str) -> str:
        """The UID the organiser's system gives: Google's `<id>@google.com`, Outlook's global
        object id, or some other scheduler's."""
        self.counter += 1
        box = self.by_address.get(organizer_email)
        if box is not None:
            system = box.provider
        elif organizer_email.rpartition("@")[2] in self.tenant.internal_domains:
            system = self.boxes[0].provider if self.boxes else "google"
        else:
            system = self.rng.choice(("google", "microsoft", "other"))
        if system == "google":
            return f"{google_event_id(self.seed, self.tenant.slug, self.counter)}@google.com"
        if system == "microsoft":
            return msids.native_goid(self.seed, self.tenant.slug, self.counter)
        token = msids.digest(self.seed, self.tenant.slug, self.counter).hex()[:24]
        return f"{token}@scheduler.{organizer_email.rpartition('@')[2]}"

    def _place(self, event: MasterEvent, *extra_calendars: str) -> None:
        """Puts the event on every connected calendar it concerns."""
        concerned = {event.organizer_email, *(a.email for a in event.attendees), *extra_calendars}
        for address in self.out:
            if address in concerned:
                self.out[address].append(event)

    def _response(self) -> str:
        names, weights = zip(*_RESPONSE_WEIGHTS, strict=True)
        return self.rng.choices(names, weights)[0]

    def _day(self, index: int | None = None) -> date:
        if index is not None:
            return self.days[max(0, min(index, len(self.days) - 1))]
        return self.rng.choice(self.days)

    def _slot(self, zone: str, day: date | None = None) -> tuple[datetime, datetime]:
        day = day or self._day()
        hour = self.rng.randint(8, 16)
        minute = self.rng.choice((0, 30))
        start = datetime.combine(day, time(hour, minute))
        return start, start + timedelta(minutes=self.rng.choice((30, 45, 60, 90)))

    def _stamp(self, start: datetime | date) -> datetime:
        when = start if isinstance(start, datetime) else datetime.combine(start, time())
        created = when.replace(tzinfo=UTC) - timedelta(days=self.rng.randint(2, 20))
        return min(created, self.now - timedelta(hours=1))

    def _event(
        self,
        kind: str,
        subject: str,
        organizer: tuple[str, str],
        attendees: list[Invitee],
        start: datetime | date,
        end: datetime | date,
        zone: str,
        **extra: object,
    ) -> MasterEvent:
        created = self._stamp(start)
        event = MasterEvent(
            uid=self._uid(organizer[1].lower()),
            subject=subject,
            organizer_email=organizer[1].lower(),
            organizer_name=organizer[0],
            start=start,
            end=end,
            time_zone=zone,
            attendees=attendees,
            created=created,
            updated=created,
            kind=kind,
            location=extra.pop("location", None),  # type: ignore[arg-type]
            description=f"Sandbox meeting ({kind}).",
        )
        for name, value in extra.items():
            setattr(event, name, value)
        return event

    def _contacts(self) -> list[tuple[str, str]]:
        account = self.rng.choice(self.tenant.accounts)
        return [
            (c.name, c.email) for c in self.tenant.contacts if c.account_id == account.account_id
        ]

    def _invitees(self, people: list[tuple[str, str]]) -> list[Invitee]:
        return [Invitee(email.lower(), name, self._response()) for name, email in people]

    # ---- the plan ------------------------------------------------------------------------

    def run(self) -> dict[str, list[MasterEvent]]:
        if not self.days or not self.boxes:
            return self.out
        self._standup()
        for number, box in enumerate(self.boxes):
            owner = (box.display_name, box.address)
            self._owner_meetings(owner)
            self._others_meetings(owner)
            self._all_day(owner)
            self._weekly_series(owner)
            self._edge_cases(owner)
            if len(self.boxes) > 1:
                self._pair_meeting(owner, self.boxes[(number + 1) % len(self.boxes)])
        return self.out

    def _owner_meetings(self, owner: tuple[str, str]) -> None:
        for _ in range(min(8, max(2, len(self.days) // 2))):
            people = self._contacts()
            people = self.rng.sample(people, k=min(len(people), self.rng.randint(1, 3)))
            attendees = self._invitees(people)
            if self.rng.random() < 0.4:
                name, email = self.rng.choice(self.extra)
                attendees.append(Invitee(email, name, self._response()))
            zone = self.tenant.time_zone
            if self.rng.random() < 0.35:
                zone = self.rng.choice(FOREIGN_ZONES)
            start, end = self._slot(zone)
            subject = self.rng.choice(EXTERNAL_SUBJECTS)
            event = self._event("organised", subject, owner, attendees, start, end, zone)
            event.location = self.rng.choice((None, "Microsoft Teams Meeting", "Zoom", "Room 4.12"))
            self._place(event)

    def _others_meetings(self, owner: tuple[str, str]) -> None:
        for _ in range(min(5, max(1, len(self.days) // 3))):
            people = self._contacts()
            organizer = self.rng.choice(people)
            others = [p for p in people if p != organizer][:2]
            attendees = [Invitee(owner[1], owner[0], self._response())] + self._invitees(others)
            zone = self.rng.choice(FOREIGN_ZONES)
            start, end = self._slot(zone)
            subject = self.rng.choice(EXTERNAL_SUBJECTS)
            self._place(self._event("invited", subject, organizer, attendees, start, end, zone))
        name, email = self.rng.choice(self.extra)
        zone = self.tenant.time_zone
        start, end = self._slot(zone)
        attendees = [Invitee(owner[1], owner[0], self._response())]
        subject = self.rng.choice(INTERNAL_SUBJECTS)
        self._place(self._event("internal", subject, (name, email), attendees, start, end, zone))

    def _all_day(self, owner: tuple[str, str]) -> None:
        day = self._day()
        subject = self.rng.choice(ALL_DAY_SUBJECTS)
        self._place(
            self._event(
                "all_day", subject, owner, [], day, day + timedelta(days=1), self.tenant.time_zone
            )
        )
        first = self._day(self.rng.randint(0, max(0, len(self.days) - 3)))
        people = self._contacts()[:1]
        self._place(
            self._event(
                "multi_day",
                self.rng.choice(MULTI_DAY_SUBJECTS),
                owner,
                self._invitees(people),
                first,
                first + timedelta(days=3),
                self.tenant.time_zone,
            )
        )

    def _standup(self) -> None:
        """The tenant's daily stand-up: organised by the first mailbox, everyone else invited."""
        lead = self.boxes[0]
        zone = self.tenant.time_zone
        first = self.days[0]
        while first.weekday() >= 5:
            first += timedelta(days=1)
        start = datetime.combine(first, time(9, 30))
        attendees = [Invitee(b.address, b.display_name, "accepted") for b in self.boxes[1:]]
        name, email = self.extra[0]
        attendees.append(Invitee(email, name, "tentative"))
        count = max(3, len(self.days))
        event = self._event(
            "standup",
            "Daily stand-up",
            (lead.display_name, lead.address),
            attendees,
            start,
            start + timedelta(minutes=15),
            zone,
            rrule=f"FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;COUNT={count}",
            location="Microsoft Teams Meeting",
        )
        self._except(event, moved=1, cancelled=2, shift=timedelta(minutes=30))
        self._place(event)

    def _weekly_series(self, owner: tuple[str, str]) -> None:
        """Weekly 09:00 New York customer sync starting five weeks before the first day."""
        people = self._contacts()[:2]
        first = self.days[0] - timedelta(weeks=5)
        start = datetime.combine(first, time(9, 0))
        weekday = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[first.weekday()]
        event = self._event(
            "weekly",
            "Weekly customer sync",
            owner,
            self._invitees(people),
            start,
            start + timedelta(minutes=45),
            "America/New_York",
            rrule=f"FREQ=WEEKLY;BYDAY={weekday};COUNT={5 + len(self.days) // 7 + 2}",
        )
        self._except(event, moved=5, cancelled=6, shift=timedelta(hours=2))
        self._place(event)

    def _except(self, event: MasterEvent, moved: int, cancelled: int, shift: timedelta) -> None:
        """Moves occurrence number `moved` by `shift` and cancels number `cancelled`."""
        plain = expand(event, datetime(2100, 1, 1, tzinfo=UTC))
        if len(plain) > moved:
            occ = plain[moved]
            start = occ.start_local + shift  # type: ignore[operator]
            event.exceptions[occ.original_key or ""] = Override(
                start,
                occ.end_local + shift,
                None,
                False,  # type: ignore[operator]
            )
        if len(plain) > cancelled:
            event.exceptions[plain[cancelled].original_key or ""] = Override(cancelled=True)

    def _edge_cases(self, owner: tuple[str, str]) -> None:
        # A cancelled meeting.
        people = self._contacts()[:2]
        zone = self.tenant.time_zone
        start, end = self._slot(zone)
        self._place(
            self._event(
                "cancelled",
                "Canceled: " + self.rng.choice(EXTERNAL_SUBJECTS),
                owner,
                self._invitees(people),
                start,
                end,
                zone,
                status="cancelled",
            )
        )
        # Across UTC midnight, scheduled in a zone where it is mid-morning or evening.
        day = self._day(len(self.days) // 2)
        zone = self.rng.choice(("Asia/Kolkata", "America/New_York", "Europe/Berlin"))
        utc_start = datetime.combine(day, time(23, 30), tzinfo=UTC)
        local = utc_start.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        attendees = self._invitees(self._contacts()[:1])
        self._place(
            self._event(
                "midnight",
                "Late call: " + self.rng.choice(EXTERNAL_SUBJECTS),
                owner,
                attendees,
                local,
                local + timedelta(hours=1),
                zone,
            )
        )
        # Exactly at 00:00 UTC.
        day = self._day(len(self.days) // 3)
        local = datetime.combine(day, time(0, 0), tzinfo=UTC).astimezone(ZoneInfo("Asia/Kolkata"))
        local = local.replace(tzinfo=None)
        self._place(
            self._event(
                "utc_midnight",
                "Offshore team handover",
                owner,
                [],
                local,
                local + timedelta(minutes=30),
                "Asia/Kolkata",
            )
        )

    def _pair_meeting(self, owner: tuple[str, str], partner: Mailbox) -> None:
        zone = self.tenant.time_zone
        start, end = self._slot(zone)
        attendees = [Invitee(partner.address, partner.display_name, self._response())]
        subject = self.rng.choice(INTERNAL_SUBJECTS)
        self._place(self._event("shared", subject, owner, attendees, start, end, zone))
