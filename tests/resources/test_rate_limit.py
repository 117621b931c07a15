"""QuotaPacer: pure tests on an injected clock, then one against the sandbox enforcing Gmail's
per-user quota through the real google-api-python-client."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from checks import mailbox_stats

from resources.google.mail_connector import GoogleMailConnector
from resources.google.settings import GoogleSettings
from resources.rate_limit import QuotaPacer
from sandbox.server import SandboxServer
from sandbox.workload.generate import generate_workload
from sandbox.workload.model import GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, Workload
from vocabulary.windows import SyncWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacer_on(clock: FakeClock, **options: object) -> QuotaPacer:
    """A Gmail-sized pacer on `clock`; exact tests turn both margins off."""
    return QuotaPacer(250, clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


def test_waits_until_the_oldest_units_leave_the_window() -> None:
    clock = FakeClock()
    pacer = pacer_on(clock, margin_seconds=0.0, settle_margin_seconds=0.0)
    reservation, waited = pacer.reserve(250, "batch")
    assert waited == 0.0
    pacer.settle(reservation)
    clock.now += 0.4
    assert pacer.wait_needed(5) == pytest.approx(0.6)
    assert pacer.acquire(5) == pytest.approx(0.6)
    assert pacer.used() == 0
    with pytest.raises(ValueError):
        pacer.acquire(251)


def test_units_are_reserved_when_the_call_is_sent() -> None:
    """A call in flight already holds its units: nothing else fits before the answer."""
    clock = FakeClock()
    pacer = pacer_on(clock, margin_seconds=0.0, settle_margin_seconds=0.0)
    pacer.reserve(200, "batch")
    assert pacer.used() == 200
    assert pacer.wait_needed(50) == 0.0
    assert pacer.wait_needed(55) == pytest.approx(1.0)


def test_a_kind_is_charged_at_its_answers_until_learnt() -> None:
    """Two answers of a kind settle at their answers; from the third (as fast as the fastest)
    the charge sits at its send, so the next batch goes one window after that *send*."""
    clock = FakeClock()
    pacer = pacer_on(clock, margin_seconds=0.0, settle_margin_seconds=0.0)
    for expected_wait in (1.0, 1.0, 0.7):
        pacer.acquire(250, "batch")
        reservation, _ = pacer.reserve(250, "batch")
        clock.now += 0.3
        pacer.settle(reservation)
        assert pacer.wait_needed(250, "batch") == pytest.approx(expected_wait)
    # A call of another kind still sees the charge at its answer.
    assert pacer.wait_needed(250, "list") == pytest.approx(1.0)


def test_settle_offset_is_learnt_per_kind() -> None:
    """A slow listing must not pull a fast get's charge early, nor a fast get a listing's."""
    clock = FakeClock()
    pacer = pacer_on(clock, margin_seconds=0.0, settle_margin_seconds=0.0, learn_after=1)

    def call(kind: str, units: int, seconds: float) -> float:
        reservation, _ = pacer.reserve(units, kind)
        clock.now += seconds
        pacer.settle(reservation)
        return reservation.charge.at - reservation.sent_at

    assert call("get", 5, 0.05) == pytest.approx(0.0)
    assert call("list", 5, 0.5) == pytest.approx(0.0)
    # A get slower than the fastest get settles at its answer less the fastest *get*.
    assert call("get", 5, 0.3) == pytest.approx(0.25)
    # A listing as slow as the fastest listing settles at its send, however quick gets are.
    assert call("list", 5, 0.5) == pytest.approx(0.0)
    assert pacer.fastest_round_trip == pytest.approx({"get": 0.05, "list": 0.5})


def test_the_settle_margin_keeps_a_charge_later_but_never_past_its_answer() -> None:
    clock = FakeClock()
    pacer = pacer_on(clock, learn_after=1, settle_margin_seconds=0.03)
    for seconds, expected in ((0.1, 0.03), (0.2, 0.13), (0.01, 0.01)):
        reservation, _ = pacer.reserve(5, "get" if seconds > 0.05 else "profile")
        clock.now += seconds
        pacer.settle(reservation)
        assert reservation.charge.at - reservation.sent_at == pytest.approx(expected)


def test_a_rate_limit_answer_falls_back_to_charging_at_the_answer() -> None:
    clock = FakeClock()
    pacer = pacer_on(clock, margin_seconds=0.0, settle_margin_seconds=0.0)
    reservation, _ = pacer.reserve(5, "get")
    clock.now += 0.2
    pacer.settle(reservation, throttled=True)
    assert pacer.charge_at == "answer"
    reservation, _ = pacer.reserve(245, "batch")
    clock.now += 0.2
    pacer.settle(reservation)
    # Both charges sit at their answers: 0.2 s and 0.4 s after the first send.
    assert [c.at - 100.0 for c in pacer.charges] == pytest.approx([0.2, 0.4])


def test_after_a_refusal_earlier_charges_count_from_their_answers_too() -> None:
    clock = FakeClock()
    pacer = pacer_on(clock, margin_seconds=0.0, settle_margin_seconds=0.0, learn_after=1)
    reservation, _ = pacer.reserve(250, "batch")
    clock.now += 0.3
    pacer.settle(reservation)
    assert pacer.wait_needed(5, "batch") == pytest.approx(0.7)
    pacer.note_throttled()
    assert pacer.wait_needed(5, "batch") == pytest.approx(1.0)


def test_a_call_slower_than_the_window_still_counts_from_its_answer() -> None:
    clock = FakeClock()
    pacer = pacer_on(clock, margin_seconds=0.0, settle_margin_seconds=0.0)
    reservation, _ = pacer.reserve(250, "batch")
    clock.now += 1.5
    assert pacer.used("batch") == 0
    pacer.settle(reservation)
    assert pacer.wait_needed(5, "batch") == pytest.approx(1.0)


def test_answer_mode_is_the_old_charging() -> None:
    clock = FakeClock()
    pacer = pacer_on(clock, margin_seconds=0.0, settle_margin_seconds=0.0, charge_at="answer")
    reservation, _ = pacer.reserve(250, "batch")
    clock.now += 0.3
    pacer.settle(reservation)
    assert pacer.wait_needed(250) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_provider_never_sees_a_window_over_the_limit(seed: int) -> None:
    """The sandbox's shape: a fixed delay on the way to the provider, then it meters a batch's
    parts one by one as it handles them, and answers after a tail that varies a lot (building
    and carrying the answer back). Every 1 s window the provider sees stays within 250 units,
    and the pacer still gets close to the ceiling.

    The premise the pacer relies on: what comes *before* metering varies between calls of one
    kind by less than `margin_seconds` (here 50 parts x 0.2 ms); more than that can be metered
    early, which the fallback after a 429 then absorbs."""
    rng = random.Random(seed)
    clock = FakeClock()
    pacer = pacer_on(clock)
    metered: list[tuple[float, int]] = []
    for i in range(200):
        # the listing's pages first, then the batches of gets, as a sync does
        units, kind = (5, "list") if i < 3 else (250, "batch")
        reservation, _ = pacer.reserve(units, kind)
        clock.now += 0.02
        per_part = rng.uniform(0.001, 0.0012)
        for _ in range(units // 5):
            clock.now += per_part
            metered.append((clock.now, 5))
        clock.now += rng.uniform(0.005, 0.1)
        pacer.settle(reservation)
    oldest, in_window = 0, 0
    for at, units in metered:
        in_window += units
        while metered[oldest][0] <= at - 1.0:
            in_window -= metered[oldest][1]
            oldest += 1
        assert in_window <= 250
    rate = sum(u for _, u in metered) / (metered[-1][0] - metered[0][0])
    assert rate > 0.9 * 250
    assert pacer.charge_at == "send"


def test_answer_time_charging_is_slower_than_send_time_on_the_same_calls() -> None:
    """The baseline the benchmarks compare with: same round trips, fewer units per second."""

    def units_per_second(charge_at: str) -> float:
        clock = FakeClock()
        pacer = pacer_on(clock, charge_at=charge_at, learn_after=1)
        start = clock.now
        for _ in range(20):
            reservation, _ = pacer.reserve(250, "batch")
            clock.now += 0.1
            pacer.settle(reservation)
        return 20 * 250 / (clock.now - start)

    assert units_per_second("send") > 1.05 * units_per_second("answer")


def test_another_kind_sees_a_charge_only_as_early_as_its_own_round_trip_allows() -> None:
    """A small last batch is parsed faster than a full one, so a full batch's early charge
    must not let it through early: it sees the charge at the answer less its own fastest."""
    clock = FakeClock()
    pacer = pacer_on(clock, margin_seconds=0.0, settle_margin_seconds=0.0, learn_after=1)
    for kind, seconds in (("batch:10", 0.05), ("batch:50", 0.2)):
        pacer.acquire(250, kind)
        reservation, _ = pacer.reserve(250, kind)
        clock.now += seconds
        pacer.settle(reservation)
    assert pacer.wait_needed(250, "batch:50") == pytest.approx(0.8)
    assert pacer.wait_needed(250, "batch:10") == pytest.approx(0.95)
    assert pacer.wait_needed(250, "never answered") == pytest.approx(1.0)


# ---- against the sandbox -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workload() -> Workload:
    """One Gmail mailbox with one day of 400 messages: more than a second of quota."""
    size = {"tenants": 1, "mailboxes_per_tenant": 1, "days": 1, "messages_per_mailbox_per_day": 400}
    return generate_workload(seed=11, include_today=False, **size)


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("clean_sandbox")
def test_gmail_at_its_ceiling_with_latency_earns_no_rate_limit(
    workload: Workload, server: SandboxServer
) -> None:
    """Gmail's 250 units/s per user enforced, 20 ms before the sandbox handles each request:
    charging at send never earns a 429 and never falls back."""
    mailbox = workload.mailboxes[0]
    day = workload.days[0]
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    server.state.set_quota(True, 250)
    server.state.set_fault(mailbox.address, "slow", seconds=0.02)
    settings = GoogleSettings(
        base_url=server.base_url, client_id=GOOGLE_CLIENT_ID, client_secret=GOOGLE_CLIENT_SECRET
    )
    connector = GoogleMailConnector(mailbox.address, mailbox.refresh_token, settings=settings)
    ids = connector.list_message_ids(SyncWindow(start, start + timedelta(days=1)))
    assert len(ids) > 250
    fetched = [m.provider_message_id for m in connector.fetch_messages(ids)]
    assert fetched == ids
    sandbox = mailbox_stats(server, mailbox)
    assert sandbox["rejected_for_quota"] == 0
    assert connector.stats.retries == 0
    assert sandbox["max_units_in_any_1s_window"] == 250
    pacer = connector._session.pacer
    assert pacer.charge_at == "send"
    assert set(pacer.fastest_round_trip) >= {"gmail.users.messages.list", "batch:50"}
