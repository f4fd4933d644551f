"""Backoff with full jitter and the retry schedule: pure rules, checked without a clock."""

from __future__ import annotations

from datetime import datetime
from random import Random

from sync.backoff import Backoff
from sync.connectivity import ConnState
from sync.errors import AuthError, BadResponse, ServerBusy, ServerUnreachable
from sync.scheduler import Step, SyncScheduler


def test_delays_are_full_jitter_under_an_exponential_ceiling() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=Random(3))
    ceilings = []
    for _ in range(12):
        ceiling = backoff.ceiling()
        delay = backoff.next_delay()
        assert 0 <= delay <= ceiling
        ceilings.append(ceiling)
    assert ceilings[:7] == [1, 2, 4, 8, 16, 32, 60]
    assert set(ceilings[6:]) == {60}
    # Full jitter: the delays spread over the whole range, not just near the ceiling.
    many = Backoff(base=1.0, cap=60.0, failures=20, rng=Random(5))
    delays = [many.next_delay() for _ in range(200)]
    assert min(delays) < 10 and max(delays) > 50
    backoff.reset()
    assert backoff.ceiling() == 1


def test_retry_after_is_a_floor_within_reason() -> None:
    backoff = Backoff(base=1.0, cap=60.0, rng=Random(1))
    assert backoff.next_delay(retry_after=30) >= 30
    assert backoff.next_delay(retry_after=300) >= 300  # beyond the cap: still obeyed
    assert backoff.next_delay(retry_after=float("inf")) == backoff.retry_after_cap
    assert backoff.next_delay(retry_after=float("nan")) <= backoff.cap
    assert backoff.next_delay(retry_after=-5) <= backoff.cap
    # A long outage does not overflow the exponent.
    assert Backoff(failures=10_000).ceiling() == 120.0


def test_an_unreachable_server_is_probed_quickly_and_a_probe_that_answers_syncs_at_once() -> None:
    scheduler = SyncScheduler(interval=60, rng=Random(2))
    plan = scheduler.round_failed(ServerUnreachable("无法连接服务器"))
    assert plan.step is Step.PROBE and plan.delay <= 4.0
    assert scheduler.state.state is ConnState.DEGRADED  # one failure may be a blip
    for _ in range(10):
        plan = scheduler.probe_failed(ServerUnreachable("无法连接服务器"))
        assert plan.step is Step.PROBE and plan.delay <= 4.0  # capped at a few seconds
    assert scheduler.state.state is ConnState.OFFLINE
    assert scheduler.state.last_error == "无法连接服务器"
    plan = scheduler.probe_succeeded()
    assert plan == type(plan)(Step.SYNC, 0.0)
    when = datetime(2026, 3, 2, 9, 30)
    plan = scheduler.round_succeeded(when, pending=0)
    assert plan.step is Step.SYNC and plan.delay == 60
    assert scheduler.state.state is ConnState.ONLINE and scheduler.state.last_sync == when


def test_a_busy_server_is_retried_with_backoff_and_retry_after() -> None:
    scheduler = SyncScheduler(interval=60, rng=Random(4))
    plan = scheduler.round_failed(ServerBusy("服务器繁忙", status=503, retry_after=45))
    assert plan.step is Step.SYNC and plan.delay >= 45
    assert scheduler.state.state is ConnState.DEGRADED
    delays = [scheduler.round_failed(BadResponse("网关错误页")).delay for _ in range(8)]
    assert all(0 <= d <= 60 for d in delays)
    assert scheduler.state.state is ConnState.DEGRADED  # the server answers: not offline
    # A 503 from the health probe means the link is back: go on as after a failed round.
    plan = scheduler.probe_failed(ServerBusy("服务器繁忙", status=503, retry_after=10))
    assert plan.step is Step.SYNC and plan.delay >= 10


def test_a_sign_in_problem_waits_for_the_regular_interval() -> None:
    scheduler = SyncScheduler(interval=60, rng=Random(6))
    plan = scheduler.round_failed(AuthError("登录已失效，请重新登录"))
    assert plan == type(plan)(Step.SYNC, 60)


def test_the_last_success_survives_failures() -> None:
    scheduler = SyncScheduler(rng=Random(8))
    when = datetime(2026, 3, 2, 8, 0)
    scheduler.restore(when, pending=3)
    scheduler.round_started()
    scheduler.round_failed(ServerUnreachable("无法连接服务器"))
    assert scheduler.state.last_sync == when and scheduler.state.pending == 3


def test_a_heartbeat_that_finds_no_server_is_offline_at_once_until_an_answer() -> None:
    scheduler = SyncScheduler(interval=60, rng=Random(4))
    scheduler.round_succeeded(datetime(2026, 3, 2, 9, 0), pending=0)
    plan = scheduler.link_lost(ServerUnreachable("服务器响应超时，请检查网络"))
    assert plan.step is Step.PROBE and plan.delay <= 4.0
    assert scheduler.state.state is ConnState.OFFLINE  # not "网络不稳" first
    # A round that was under way fails too: still offline, not back to degraded.
    scheduler.round_started()
    scheduler.round_failed(ServerUnreachable("无法连接服务器"))
    assert scheduler.state.state is ConnState.OFFLINE
    assert scheduler.link_ok() is True  # the outage ends: sync at once
    assert not scheduler.link_down
    scheduler.probe_succeeded()
    scheduler.round_succeeded(datetime(2026, 3, 2, 9, 1), pending=0)
    assert scheduler.state.state is ConnState.ONLINE and not scheduler.link_down
