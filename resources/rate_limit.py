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
pull a batch's charge early, nor a slow listing a get's; and a charge moves early only for a
next call of its own kind: a call of another kind (a small last batch, parsed faster by the
provider) sees it at the time that kind's own fastest round trip allows, or at its answer.
After a rate-limit answer the pacer falls back to charging at the answer, for the rest of its
life.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

ChargeAt = Literal["send", "answer"]


@dataclass
class Charge:
    """Units in the window: at `at` for calls of `kind`, at `answer_at` at the latest for the
    others (None while the call is in flight)."""

    at: float
    units: int
    kind: str
    answer_at: float | None = None


@dataclass
class Reservation:
    """Units reserved for one call in flight; `settle` it when the answer (or error) arrives."""

    kind: str
    units: int
    sent_at: float
    charge: Charge = field(repr=False)


class QuotaPacer:
    """Keeps quota units per `window_seconds` at or below `units_per_window`.

    `charge_at="answer"` keeps the old, slower charging (every settle at the answer time; the
    benchmarks' baseline); a kind's charges sit at their answers until `learn_after` of its
    calls were answered. `settle_margin_seconds` is how much later than the kind's fastest
    round trip allows a charge is settled: what happens before the provider meters a call (the
    request on its way, the provider parsing it) varies from call to call, and a next call
    quicker to be metered than the previous one must not find it still in the window.

    `clock` and `sleep` are injectable so tests run without waiting; `margin_seconds` absorbs
    clock granularity between us and the provider. One pacer serves one thread (a connection's
    connector).
    """

    def __init__(
        self,
        units_per_window: int,
        *,
        window_seconds: float = 1.0,
        margin_seconds: float = 0.01,
        charge_at: ChargeAt = "send",
        learn_after: int = 3,
        settle_margin_seconds: float = 0.03,
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
        self.settle_margin_seconds = settle_margin_seconds
        self._clock = clock
        self._sleep = sleep
        self.charges: list[Charge] = []
        """Charges and reservations that may still count in some kind's window."""
        self.fastest_round_trip: dict[str, float] = {}
        """Seconds of the fastest answered call of each kind."""
        self.answers: dict[str, int] = {}
        """Answered calls of each kind."""

    def _expire(self, now: float) -> None:
        horizon = now - self.window_seconds
        self.charges = [c for c in self.charges if max(c.at, c.answer_at or c.at) > horizon]

    def _learnt(self, kind: str) -> bool:
        return self.charge_at == "send" and self.answers.get(kind, 0) >= self.learn_after

    def _settled_at(self, answer_at: float, sent_at: float, kind: str) -> float:
        """When a call of `kind` answered at `answer_at` counts for a next call of that kind."""
        if not self._learnt(kind):
            # Too few answers of this kind to trust their fastest as the provider's minimum
            # (a first call may have queued at the provider): charge at the answer.
            return answer_at
        # The provider metered the call no later than `fastest` before the answer, relative
        # to a next call meeting the same delay on its way there; that delay varies (a busy
        # provider parses a batch slower), by up to the settle margin; never before the send.
        moved = answer_at - self.fastest_round_trip[kind] + self.settle_margin_seconds
        return min(answer_at, max(sent_at, moved))

    def _counts_from(self, charge: Charge, kind: str) -> float:
        """When `charge` entered the window as a call of `kind` must see it."""
        if charge.answer_at is None:
            return charge.at
        if self.charge_at == "answer":
            # After a refusal (or in the old mode) every charge counts from its answer.
            return charge.answer_at
        if charge.kind == kind:
            return charge.at
        # Another kind's charge: moved early only as far as `kind`'s own round trip allows.
        return max(charge.at, self._settled_at(charge.answer_at, charge.at, kind))

    def _window(self, kind: str) -> list[tuple[float, int]]:
        now = self._clock()
        self._expire(now)
        horizon = now - self.window_seconds
        seen = sorted((self._counts_from(c, kind), c.units) for c in self.charges)
        return [(at, units) for at, units in seen if at > horizon]

    def used(self, kind: str = "") -> int:
        """Units a call of `kind` finds in the window (charged or reserved)."""
        return sum(units for _, units in self._window(kind))

    def room(self, kind: str = "") -> int:
        """Units that fit in the window now for a call of `kind`."""
        return self.units_per_window - self.used(kind)

    def wait_needed(self, units: int, kind: str = "") -> float:
        """Seconds until `units` more of `kind` fit in the window (0 when they fit now)."""
        if units > self.units_per_window:
            raise ValueError(f"{units} units can never fit a window of {self.units_per_window}")
        window = self._window(kind)
        excess = sum(u for _, u in window) + units - self.units_per_window
        if excess <= 0:
            return 0.0
        # The oldest charges leave first; `units` fit once they free at least `excess`.
        freed, index = 0, -1
        while freed < excess:
            index += 1
            freed += window[index][1]
        return window[index][0] + self.window_seconds - self._clock() + self.margin_seconds

    def acquire(self, units: int, kind: str = "") -> float:
        """Blocks until `units` of `kind` fit; returns the seconds spent waiting."""
        waited = 0.0
        while (delay := self.wait_needed(units, kind)) > 0:
            self._sleep(delay)
            waited += delay
        return waited

    def reserve(self, units: int, kind: str) -> tuple[Reservation, float]:
        """Blocks until `units` fit, then charges them at the send time; returns the
        reservation and the seconds spent waiting. Call it just before sending."""
        waited = self.acquire(units, kind)
        now = self._clock()
        charge = Charge(now, units, kind)
        self.charges.append(charge)
        return Reservation(kind, units, now, charge), waited

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
        self.fastest_round_trip[kind] = min(self.fastest_round_trip.get(kind, math.inf), round_trip)
        self.answers[kind] = self.answers.get(kind, 0) + 1
        charge = reservation.charge
        charge.answer_at = now
        charge.at = self._settled_at(now, reservation.sent_at, kind)
        if not any(c is charge for c in self.charges):
            # A call slower than the window: its reservation expired meanwhile, yet the
            # provider may have metered it just now.
            self.charges.append(charge)
        self._expire(now)

    def note_throttled(self) -> None:
        """The provider refused a call for its rate: our view of its window was wrong, so from
        now on every charge sits at its answer time (conservative)."""
        self.charge_at = "answer"
