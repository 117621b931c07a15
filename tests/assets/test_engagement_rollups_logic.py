"""The rollup rules on hand-written touches: local days of a UTC day across DST changes, the
daily account rows, and the contact windows' edges."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from assets.engagement_rollups_logic import (
    EmailTouch,
    MeetingTouch,
    account_daily_rows,
    contact_engagement_rows,
    local_date,
    local_days_of_utc_day,
    local_week,
)

LA = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "utc_day", "local_days"),
    [
        ("UTC", "2026-03-08", ["2026-03-08"]),
        ("Asia/Tokyo", "2026-03-08", ["2026-03-08", "2026-03-09"]),
        # 2026-03-08 in LA is 23 hours long (clocks jump 02:00 PST -> 03:00 PDT).
        ("America/Los_Angeles", "2026-03-08", ["2026-03-07", "2026-03-08"]),
        ("America/Los_Angeles", "2026-03-09", ["2026-03-08", "2026-03-09"]),
        # 2026-11-01 in LA is 25 hours long (02:00 PDT -> 01:00 PST).
        ("America/Los_Angeles", "2026-11-01", ["2026-10-31", "2026-11-01"]),
        ("America/Los_Angeles", "2026-11-02", ["2026-11-01", "2026-11-02"]),
        ("Pacific/Kiritimati", "2026-03-08", ["2026-03-08", "2026-03-09"]),  # UTC+14
        ("Pacific/Pago_Pago", "2026-03-08", ["2026-03-07", "2026-03-08"]),  # UTC-11
    ],
)
def test_local_days_of_a_utc_day(zone: str, utc_day: str, local_days: list[str]) -> None:
    got = local_days_of_utc_day(date.fromisoformat(utc_day), ZoneInfo(zone))
    assert got == [date.fromisoformat(d) for d in local_days]


def test_touches_land_on_the_local_day_across_dst_changes() -> None:
    # 23-hour day: 07:30Z is 23:30 PST on the 7th, 08:30Z is 00:30 PST on the 8th, and
    # 06:30Z the next UTC day is 23:30 PDT still on the 8th.
    assert local_date(utc("2026-03-08T07:30"), LA) == date(2026, 3, 7)
    assert local_date(utc("2026-03-08T08:30"), LA) == date(2026, 3, 8)
    assert local_date(utc("2026-03-09T06:30"), LA) == date(2026, 3, 8)
    assert local_date(utc("2026-03-09T07:30"), LA) == date(2026, 3, 9)
    # 25-hour day: it starts 07:00Z (PDT) and ends 08:00Z the next UTC day (PST).
    assert local_date(utc("2026-11-01T06:59"), LA) == date(2026, 10, 31)
    assert local_date(utc("2026-11-01T07:00"), LA) == date(2026, 11, 1)
    assert local_date(utc("2026-11-02T07:30"), LA) == date(2026, 11, 1)
    assert local_date(utc("2026-11-02T08:00"), LA) == date(2026, 11, 2)
    assert local_date(utc("2026-03-08T15:00"), TOKYO) == date(2026, 3, 9)


def test_local_week_is_the_monday() -> None:
    assert local_week(date(2026, 3, 8)) == date(2026, 3, 2)  # a Sunday
    assert local_week(date(2026, 3, 9)) == date(2026, 3, 9)  # a Monday


def email(key, account, day, at, direction="inbound", contacts=("c-1",), internal=("r@t",)):
    return EmailTouch(key, account, day, at, direction, tuple(contacts), tuple(internal))


def meeting(key, account, day, at, minutes=30, accepted=("c-1",), internal=("r@t",)):
    return MeetingTouch(key, account, day, at, minutes, tuple(accepted), tuple(internal))


def test_account_daily_rows_count_each_account_and_day() -> None:
    d1, d2 = date(2026, 3, 9), date(2026, 3, 10)
    rows = account_daily_rows(
        "t",
        [
            email("e1", "acc-1", d1, utc("2026-03-09T10:00"), "inbound", ["c-1"], ["a@t"]),
            email("e2", "acc-1", d1, utc("2026-03-09T09:00"), "outbound", ["c-1", "c-2"], ["b@t"]),
            email("e2", "acc-2", d1, utc("2026-03-09T09:00"), "outbound", ["c-2"], ["b@t"]),
            email("e3", "acc-1", d2, utc("2026-03-10T09:00")),
        ],
        [
            meeting("m1", "acc-1", d1, utc("2026-03-09T18:00"), 45, ["c-3"], ["a@t", "c@t"]),
            meeting("m2", "acc-1", d1, utc("2026-03-09T08:00"), 15, ["c-1"], ["a@t"]),
        ],
    )
    by_key = {(r["account_id"], r["local_day"]): r for r in rows}
    assert list(by_key) == [("acc-1", d1), ("acc-1", d2), ("acc-2", d1)]
    day = by_key[("acc-1", d1)]
    assert (day["emails_in"], day["emails_out"], day["meetings"]) == (1, 1, 2)
    assert day["meeting_minutes"] == 60
    assert day["distinct_contacts"] == 3  # c-1, c-2 (emails) and c-3 (meeting)
    assert day["distinct_internal_people"] == 3
    assert day["first_touch_at"] == utc("2026-03-09T08:00")
    assert day["last_touch_at"] == utc("2026-03-09T18:00")
    assert day["local_week"] == date(2026, 3, 9)
    other = by_key[("acc-2", d1)]
    assert (other["emails_in"], other["emails_out"], other["meetings"]) == (0, 1, 0)
    assert other["meeting_minutes"] == 0


def test_no_touch_no_row() -> None:
    assert account_daily_rows("t", [], []) == []


def test_contact_windows_hold_the_days_after_as_of_minus_n_up_to_as_of() -> None:
    as_of = date(2026, 6, 30)
    days = {  # email key -> local day
        "today": date(2026, 6, 30),
        "d6": date(2026, 6, 24),  # inside 7 days
        "d7": date(2026, 6, 23),  # = as_of - 7: outside 7, inside 30
        "d29": date(2026, 6, 1),  # inside 30
        "d30": date(2026, 5, 31),  # = as_of - 30: outside 30, inside 90
        "d89": date(2026, 4, 2),  # inside 90
        "d90": date(2026, 4, 1),  # = as_of - 90: outside every window
    }
    emails = [
        email(k, "acc-1", d, datetime(d.year, d.month, d.day, 12, tzinfo=UTC))
        for k, d in days.items()
    ]
    # One message engaging two accounts of the contact is still one email to it.
    emails.append(email("today", "acc-2", as_of, datetime(2026, 6, 30, 12, tzinfo=UTC)))
    meetings = [
        meeting("m-today", "acc-1", as_of, utc("2026-06-30T16:00")),
        meeting("m-d7", "acc-1", date(2026, 6, 23), utc("2026-06-23T16:00")),
        meeting("m-other", "acc-1", as_of, utc("2026-06-30T17:00"), accepted=["c-2"]),
    ]
    rows = contact_engagement_rows(
        "t", [("c-2", "bob@x"), ("c-1", "ann@x")], emails, meetings, as_of
    )
    assert [r["contact_id"] for r in rows] == ["c-1", "c-2"]
    ann, bob = rows
    assert (ann["emails_7d"], ann["emails_30d"], ann["emails_90d"]) == (2, 4, 6)
    assert (ann["meetings_7d"], ann["meetings_30d"], ann["meetings_90d"]) == (1, 2, 2)
    assert ann["last_inbound_at"] == datetime(2026, 6, 30, 12, tzinfo=UTC)
    assert ann["last_outbound_at"] is None
    assert ann["last_meeting_at"] == utc("2026-06-30T16:00")
    assert ann["as_of"] == as_of and ann["email"] == "ann@x"
    # Bob only accepted one meeting: no email, zeros and NULLs elsewhere.
    assert (bob["emails_7d"], bob["emails_30d"], bob["emails_90d"]) == (0, 0, 0)
    assert (bob["meetings_7d"], bob["meetings_90d"]) == (1, 1)
    assert bob["last_inbound_at"] is None and bob["last_meeting_at"] == utc("2026-06-30T17:00")


def test_touches_after_as_of_are_not_the_last_touches() -> None:
    """The table answers "up to as_of": a touch on a later local day (a message its sender's
    clock dated tomorrow; the table built as of an earlier day) shows nowhere in the row."""
    as_of = date(2026, 6, 30)
    rows = contact_engagement_rows(
        "t",
        [("c-1", "ann@x")],
        [
            email("e1", "acc-1", as_of, utc("2026-06-30T10:00")),
            email("e2", "acc-1", date(2026, 7, 1), utc("2026-07-01T10:00")),
            email("e3", "acc-1", date(2026, 7, 1), utc("2026-07-01T11:00"), "outbound"),
        ],
        [meeting("m1", "acc-1", date(2026, 7, 1), utc("2026-07-01T16:00"))],
        as_of,
    )
    (ann,) = rows
    assert ann["last_inbound_at"] == utc("2026-06-30T10:00")
    assert ann["last_outbound_at"] is None and ann["last_meeting_at"] is None
    assert (ann["emails_7d"], ann["meetings_90d"]) == (1, 0)


def test_outbound_and_unknown_contacts() -> None:
    rows = contact_engagement_rows(
        "t",
        [("c-1", "ann@x")],
        [
            email("e1", "acc-1", date(2026, 6, 29), utc("2026-06-29T10:00"), "outbound"),
            email("e2", "acc-1", date(2026, 6, 28), utc("2026-06-28T10:00"), "outbound"),
            email("e3", "acc-1", date(2026, 6, 28), utc("2026-06-28T11:00"), contacts=["gone"]),
        ],
        [],
        date(2026, 6, 30),
    )
    assert len(rows) == 1
    assert rows[0]["last_outbound_at"] == utc("2026-06-29T10:00")
    assert rows[0]["last_inbound_at"] is None
    assert rows[0]["emails_7d"] == 2
