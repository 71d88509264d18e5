"""The reminder rules (reminders/policy.py) as pure functions: every rule and its boundaries.

The dispatcher's end-to-end tests (tests/test_dispatch.py) show the rules through a real
push service; these pin each comparison, so that changing one (a `>=` to a `>`, a 3 to a
4) fails a test here (`make mutation` measures that).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from reminders import policy
from reminders.policy import Decision, Settlement, UserDay, decide, settle, ttl_seconds

D = date(2026, 11, 27)


def user(**changes) -> UserDay:
    """A user due today with one device, never reminded, never practised: a plain SEND."""
    base = UserDay(
        day=D,
        day_over=False,
        has_time=True,
        devices=1,
        devices_missing=1,
        last_reminder=None,
        last_practice=None,
        done_today=False,
        unanswered=0,
        every=1,
    )
    return replace(base, **changes)


def outcome(decision: Decision) -> tuple:
    return (decision.action, decision.unanswered, decision.every, decision.backed_off)


def days_before(n: int) -> date:
    return D - timedelta(days=n)


def test_the_vocabulary():
    # The dispatcher and its report speak these names.
    assert (policy.OFF, policy.STALE, policy.DONE, policy.QUIET) == (
        "off",
        "stale",
        "done",
        "quiet",
    )
    assert (policy.SEND, policy.RECORD) == ("send", "record")
    assert (policy.RETRY, policy.REMINDED, policy.MOVE_ON) == ("retry", "reminded", "move_on")
    assert (policy.UNANSWERED_BEFORE_BACKOFF, policy.MIN_RETRY_SECONDS, policy.MIN_TTL) == (
        3,
        30,
        60,
    )
    assert policy.BACKOFF_EVERY == 2


# -- decide: who gets nothing ------------------------------------------------------------


def test_a_user_due_today_is_sent_to():
    assert outcome(decide(user())) == ("send", 0, 1, False)


def test_no_time_or_no_device_is_off():
    assert outcome(decide(user(has_time=False, unanswered=2, every=2))) == ("off", 2, 2, False)
    assert outcome(decide(user(devices=0, devices_missing=0))) == ("off", 0, 1, False)
    # Off comes first: even a day that is over is simply off.
    assert decide(user(has_time=False, day_over=True)).action == "off"
    assert decide(user(devices=0, day_over=True)).action == "off"


def test_a_day_that_is_over_is_stale_not_sent_late():
    assert outcome(decide(user(day_over=True, unanswered=1))) == ("stale", 1, 1, False)


def test_a_day_already_reminded_is_stale():
    assert decide(user(last_reminder=D)).action == "stale"
    assert decide(user(last_reminder=D + timedelta(days=1))).action == "stale"
    assert decide(user(last_reminder=days_before(1))).action == "send"


def test_stale_keeps_the_counts_as_they_were():
    # Even one who practised since: the stale check comes before the fresh count.
    stale = user(last_reminder=D, last_practice=D, unanswered=3, every=2)
    assert outcome(decide(stale)) == ("stale", 3, 2, False)


def test_todays_practice_done_means_no_reminder():
    assert outcome(decide(user(done_today=True))) == ("done", 0, 1, False)


def test_done_comes_before_the_back_off():
    done = user(done_today=True, unanswered=3, last_reminder=days_before(1))
    assert outcome(decide(done)) == ("done", 3, 1, False)


# -- decide: practising answers the reminders --------------------------------------------


def test_practising_since_the_last_reminder_counts_afresh_and_daily_again():
    back = user(unanswered=5, every=2, last_reminder=days_before(2), last_practice=days_before(1))
    assert outcome(decide(back)) == ("send", 0, 1, False)


def test_practising_on_the_reminders_own_day_answers_it():
    same_day = user(
        unanswered=4, every=2, last_reminder=days_before(1), last_practice=days_before(1)
    )
    assert outcome(decide(same_day)) == ("send", 0, 1, False)


def test_practising_before_the_last_reminder_does_not_answer_it():
    before = user(unanswered=2, last_reminder=days_before(1), last_practice=days_before(2))
    assert outcome(decide(before)) == ("send", 2, 1, False)


def test_practice_with_no_reminder_yet_counts_afresh():
    assert outcome(decide(user(unanswered=7, every=2, last_practice=days_before(3)))) == (
        "send",
        0,
        1,
        False,
    )


def test_practised_since_reminder():
    assert policy.practised_since_reminder(None, None) is False
    assert policy.practised_since_reminder(None, D) is False
    assert policy.practised_since_reminder(D, None) is True
    assert policy.practised_since_reminder(D, D) is True
    assert policy.practised_since_reminder(D, days_before(1)) is True
    assert policy.practised_since_reminder(days_before(1), D) is False


# -- decide: the back-off ----------------------------------------------------------------


def test_three_unanswered_move_to_every_other_day():
    third = user(unanswered=3, last_reminder=days_before(2))
    assert outcome(decide(third)) == ("send", 3, 2, True)
    assert outcome(decide(user(unanswered=2, last_reminder=days_before(1)))) == (
        "send",
        2,
        1,
        False,
    )
    assert outcome(decide(user(unanswered=4, last_reminder=days_before(2)))) == (
        "send",
        4,
        2,
        True,
    )


def test_the_back_off_is_counted_once():
    already = user(unanswered=5, every=2, last_reminder=days_before(2))
    assert outcome(decide(already)) == ("send", 5, 2, False)


def test_the_day_after_a_reminder_is_quiet_under_the_back_off():
    moved_now = user(unanswered=3, last_reminder=days_before(1))
    assert outcome(decide(moved_now)) == ("quiet", 3, 2, True)
    quiet = user(unanswered=4, every=2, last_reminder=days_before(1))
    assert outcome(decide(quiet)) == ("quiet", 4, 2, False)


def test_every_third_day_is_quiet_for_two():
    assert decide(user(unanswered=4, every=3, last_reminder=days_before(2))).action == "quiet"
    assert decide(user(unanswered=4, every=3, last_reminder=days_before(3))).action == "send"


def test_is_quiet_day():
    assert policy.is_quiet_day(D, None, 2) is False
    assert policy.is_quiet_day(D, days_before(1), 1) is False
    assert policy.is_quiet_day(D, days_before(1), 2) is True
    assert policy.is_quiet_day(D, days_before(2), 2) is False
    assert policy.is_quiet_day(D, days_before(2), 3) is True
    assert policy.is_quiet_day(D, days_before(3), 3) is False


# -- decide: send or record ----------------------------------------------------------------


def test_every_device_already_has_it_is_recorded_without_sending():
    assert outcome(decide(user(devices=2, devices_missing=0))) == ("record", 0, 1, False)
    assert decide(user(devices=2, devices_missing=1)).action == "send"


def test_a_back_off_decided_with_a_record_is_reported():
    recorded = user(unanswered=3, last_reminder=days_before(2), devices_missing=0)
    assert outcome(decide(recorded)) == ("record", 3, 2, True)


# -- settle ------------------------------------------------------------------------------

NOW = datetime(2026, 11, 27, 8, 31, tzinfo=UTC)
DAY_END = datetime(2026, 11, 28, tzinfo=UTC)


def settled(**changes) -> Settlement:
    args = {
        "accepted": False,
        "retry_afters": [],
        "devices_left": 1,
        "now": NOW,
        "day_end": DAY_END,
        "default_wait": 300,
    }
    args.update(changes)
    return settle(**args)


def test_accepted_by_a_device_is_reminded():
    assert settled(accepted=True) == Settlement("reminded", None)


def test_refused_everywhere_moves_on():
    assert settled() == Settlement("move_on", None)


def test_no_device_left_is_off():
    assert settled(devices_left=0) == Settlement("off", None)
    # One that accepted and was then deleted cannot happen; accepted still wins.
    assert settled(devices_left=0, accepted=True) == Settlement("reminded", None)


def test_a_retry_waits_for_the_longest_retry_after():
    waits = [45.0, None, 120.0]
    assert settled(retry_afters=waits) == Settlement("retry", NOW + timedelta(seconds=120))


def test_a_retry_without_retry_after_waits_the_default():
    assert settled(retry_afters=[None]) == Settlement("retry", NOW + timedelta(seconds=300))
    assert settled(retry_afters=[None, None], default_wait=90).retry_at == NOW + timedelta(
        seconds=90
    )


def test_a_retry_waits_at_least_the_minimum():
    assert settled(retry_afters=[10.0]).retry_at == NOW + timedelta(seconds=30)
    assert settled(retry_afters=[0.0]).retry_at == NOW + timedelta(seconds=30)  # not the default
    assert settled(retry_afters=[31.0]).retry_at == NOW + timedelta(seconds=31)
    assert settled(retry_afters=[None], default_wait=5).retry_at == NOW + timedelta(seconds=30)


def test_a_retry_comes_before_recording_the_devices_that_accepted():
    # The day is recorded once every device has it or has given up; until then, retry.
    assert settled(accepted=True, retry_afters=[60.0]).action == "retry"


def test_a_retry_past_the_end_of_the_day_gives_the_day_up():
    late = NOW.replace(hour=23, minute=55)
    assert settled(now=late, retry_afters=[None]) == Settlement("move_on", None)
    assert settled(now=late, retry_afters=[None], accepted=True) == Settlement("reminded", None)
    assert settled(now=late, retry_afters=[None], devices_left=0) == Settlement("off", None)


def test_a_retry_exactly_at_midnight_is_too_late():
    just = DAY_END - timedelta(seconds=300)
    assert settled(now=just, retry_afters=[None]).action == "move_on"
    assert settled(now=just - timedelta(seconds=1), retry_afters=[None]).action == "retry"


def test_settle_works_on_naive_instants_too():
    naive_now, naive_end = NOW.replace(tzinfo=None), DAY_END.replace(tzinfo=None)
    result = settled(now=naive_now, day_end=naive_end, retry_afters=[40.0])
    assert result == Settlement("retry", naive_now + timedelta(seconds=40))


# -- TTL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds_left", "ttl"),
    [(15 * 3600 + 29 * 60, 55740), (3600.9, 3600), (61, 61), (60, 60), (59, 60), (-5, 60)],
)
def test_ttl_runs_to_the_end_of_the_day_and_at_least_a_minute(seconds_left, ttl):
    assert ttl_seconds(DAY_END - timedelta(seconds=seconds_left), DAY_END) == ttl
