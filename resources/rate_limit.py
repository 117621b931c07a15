"""A sliding-window pacer for provider quota units, so a connector never earns a 429 itself.

Providers meter units per rolling window at the moment *they* handle each call, which is some
time between our send and our receipt of the answer. Charging at the answer (the old way) is
safe but makes every call wait a whole window after the previous *answer*, so a mailbox never
reaches its ceiling. The pacer therefore reserves a call's units when it is sent (so a window
never admits more than the limit) and, when the answer arrives, settles the charge at the answer
time minus the fastest round trip seen for that kind of call: the part of this call's round trip
that was slower than the fastest one is assumed to have passed before the provider metered it,
which is the latest it can have metered the call relative to an equally delayed next call.
The fastest round trip is learnt per kind (method and size), since a quick profile read must not
pull a batch's charge early, nor a slow listing a get's. After a rate-limit answer the pacer
falls back to charging at the answer, for the rest of its life.
"""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

ChargeAt = Literal["send", "answer"]


@dataclass
class Reservation:
    """Units reserved for one call in flight; `settle` it when the answer (or error) arrives."""

    kind: str
    units: int
    sent_at: float
    entry: tuple[float, int, int] = field(repr=False)


class QuotaPacer:
    """Keeps quota units per `window_seconds` at or below `units_per_window`.

    `charge_at="answer"` keeps the old, slower charging (every settle at the answer time; the
    benchmarks' baseline); a kind's charges sit at their answers until `learn_after` of its
    calls were answered. `clock` and `sleep` are injectable so tests run without waiting;
    `margin_seconds` absorbs clock granularity between us and the provider. One pacer serves
    one thread (a connection's connector).
    """

    def __init__(
        self,
        units_per_window: int,
        *,
        window_seconds: float = 1.0,
        margin_seconds: float = 0.01,
        charge_at: ChargeAt = "send",
        learn_after: int = 3,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if units_per_window <= 0:
            raise ValueError("units_per_window must be positive")
        self.units_per_window = units_per_window
        self.window_seconds = window_seconds
        self.margin_seconds = margin_seconds
        self.charge_at: ChargeAt = charge_at
        self.learn_after = learn_after
        self._clock = clock
        self._sleep = sleep
        self._charges: list[tuple[float, int, int]] = []
        """(charged at, sequence, units), sorted by time."""
        self._sequence = itertools.count()
        self._used = 0
        self.fastest_round_trip: dict[str, float] = {}
        """Seconds of the fastest answered call of each kind."""
        self.answers: dict[str, int] = {}
        """Answered calls of each kind."""

    def _expire(self, now: float) -> None:
        horizon = now - self.window_seconds
        gone = 0
        while gone < len(self._charges) and self._charges[gone][0] <= horizon:
            self._used -= self._charges[gone][2]
            gone += 1
        del self._charges[:gone]

    def _charge(self, at: float, units: int) -> tuple[float, int, int]:
        entry = (at, next(self._sequence), units)
        bisect.insort(self._charges, entry)
        self._used += units
        return entry

    def used(self) -> int:
        """Units charged or reserved within the current window."""
        self._expire(self._clock())
        return self._used

    def wait_needed(self, units: int) -> float:
        """Seconds until `units` more fit in the window (0 when they fit now)."""
        if units > self.units_per_window:
            raise ValueError(f"{units} units can never fit a window of {self.units_per_window}")
        now = self._clock()
        self._expire(now)
        excess = self._used + units - self.units_per_window
        if excess <= 0:
            return 0.0
        freed = 0
        for charged_at, _, charged in self._charges:
            freed += charged
            if freed >= excess:
                return charged_at + self.window_seconds - now + self.margin_seconds
        return self._charges[-1][0] + self.window_seconds - now + self.margin_seconds

    def acquire(self, units: int) -> float:
        """Blocks until `units` fit; returns the seconds spent waiting."""
        waited = 0.0
        while (delay := self.wait_needed(units)) > 0:
            self._sleep(delay)
            waited += delay
        return waited

    def reserve(self, units: int, kind: str) -> tuple[Reservation, float]:
        """Blocks until `units` fit, then charges them at the send time; returns the
        reservation and the seconds spent waiting. Call it just before sending."""
        waited = self.acquire(units)
        now = self._clock()
        return Reservation(kind, units, now, self._charge(now, units)), waited

    def settle(self, reservation: Reservation, *, throttled: bool = False) -> None:
        """Moves the reservation's charge to when the provider can last have metered it.

        `throttled`: the answer was a rate-limit refusal, so our view of the provider's window
        was wrong; from now on every charge sits at its answer time.
        """
        now = self._clock()
        if throttled:
            self.note_throttled()
        kind = reservation.kind
        round_trip = now - reservation.sent_at
        fastest = min(self.fastest_round_trip.get(kind, round_trip), round_trip)
        self.fastest_round_trip[kind] = fastest
        self.answers[kind] = self.answers.get(kind, 0) + 1
        if self.charge_at == "answer" or self.answers[kind] < self.learn_after:
            # Too few answers of this kind to trust their fastest as the provider's minimum
            # (a first call may have queued at the provider): charge at the answer.
            at = now
        else:
            # The provider metered the call no later than `fastest` before the answer, relative
            # to a next call meeting the same delay on its way there; never before we sent it.
            at = max(reservation.sent_at, now - fastest)
        self._withdraw(reservation.entry)
        self._charge(at, reservation.units)
        self._expire(now)

    def _withdraw(self, entry: tuple[float, int, int]) -> None:
        index = bisect.bisect_left(self._charges, entry)
        # An expired reservation (a call slower than the window) is already out of the total.
        if index < len(self._charges) and self._charges[index] == entry:
            del self._charges[index]
            self._used -= entry[2]

    def note_throttled(self) -> None:
        """The provider refused a call for its rate: our view of its window was wrong, so from
        now on every charge sits at its answer time (conservative)."""
        self.charge_at = "answer"
