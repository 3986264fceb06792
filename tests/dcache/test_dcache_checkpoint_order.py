"""The listener's checkpoint never passes an event that has not been delivered.

Deliveries finish out of order (several uploads in flight); the checkpoint id is what a
restarted listener resumes after (`Last-Event-ID`, dCache User Guide "Storage events"),
so it may only cover a PREFIX of the arrival order in which every event is done. The
reference below is that definition written out plainly; hypothesis drives the tracker
through arbitrary completion orders and compares after every step."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oscar_iac.dcache.listener.checkpoint import Tracker


def _reference(order: list[str], done: set[str], start: str | None) -> str | None:
    acked = start
    for eid in order:
        if eid not in done:
            break
        acked = eid
    return acked


# No timing health check: a busy 2-core CI is slow, not wrong.
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=1, max_value=12).flatmap(
        lambda n: st.tuples(
            st.just(n), st.permutations(list(range(n))), st.sets(st.integers(0, n - 1))
        )
    )
)
def test_checkpoint_covers_only_a_delivered_prefix(case: tuple[int, list[int], set[int]]) -> None:
    n, completion, done_on_arrival = case
    order = [str(i + 1) for i in range(n)]
    tracker = Tracker("0")
    done: set[str] = set()
    for i, eid in enumerate(order):
        tracker.add(eid, i in done_on_arrival)  # e.g. ignored events are done on arrival
        if i in done_on_arrival:
            done.add(eid)
        assert tracker.acked == _reference(order[: i + 1], done, "0")
    for i in completion:
        tracker.ack(order[i])
        done.add(order[i])
        assert tracker.acked == _reference(order, done, "0")
        assert tracker.resume_id() == tracker.acked
    assert tracker.acked == order[-1]


def test_a_slow_first_delivery_holds_the_checkpoint() -> None:
    """Literal case: 1 in flight, 2 and 3 delivered: resume must replay from after 0."""
    tracker = Tracker("0")
    for eid in ("1", "2", "3"):
        tracker.add(eid, False)
    tracker.ack("3")
    tracker.ack("2")
    assert tracker.acked == "0" and tracker.resume_id() == "0"
    tracker.ack("1")
    assert tracker.acked == "3"
