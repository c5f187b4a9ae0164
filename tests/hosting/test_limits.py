"""Limits: settings, the CST day, and which refusal comes first with what retry_after (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from glmchat.hosting.limits import Limits, Refusal, Usage, day_start  # noqa: E402

UTC = UTC
NAMES = [
    "GLMCHAT_LIMIT_RPM",
    "GLMCHAT_LIMIT_VISITOR_RPM",
    "GLMCHAT_LIMIT_TOKENS_DAY",
    "GLMCHAT_LIMIT_VISITOR_TOKENS_DAY",
    "GLMCHAT_LIMIT_CNY_DAY",
    "GLMCHAT_LIMIT_VISITOR_CNY_DAY",
    "GLMCHAT_LIMIT_STREAMS",
    "GLMCHAT_LIMIT_VISITOR_STREAMS",
]


def settings(**values):
    asked = []

    def lookup(name):
        asked.append(name)
        return values.get(name)

    return lookup, asked


# --------------------------------------------------------------------------- settings


def test_every_setting_is_read_and_parsed():
    lookup, asked = settings(
        GLMCHAT_LIMIT_RPM="60",
        GLMCHAT_LIMIT_VISITOR_RPM=" 6 ",
        GLMCHAT_LIMIT_TOKENS_DAY="2000000",
        GLMCHAT_LIMIT_VISITOR_TOKENS_DAY="50000",
        GLMCHAT_LIMIT_CNY_DAY="12.5",
        GLMCHAT_LIMIT_VISITOR_CNY_DAY=".75",
        GLMCHAT_LIMIT_STREAMS="8",
        GLMCHAT_LIMIT_VISITOR_STREAMS="1",
    )
    limits = Limits.from_settings(lookup)
    assert sorted(asked) == sorted(NAMES)
    assert limits == Limits(
        rpm=60,
        visitor_rpm=6,
        tokens_day=2_000_000,
        visitor_tokens_day=50_000,
        cny_day=12.5,
        visitor_cny_day=0.75,
        streams=8,
        visitor_streams=1,
    )
    assert isinstance(limits.rpm, int) and isinstance(limits.cny_day, float) and limits.active


@pytest.mark.parametrize("value", [None, "", "   ", "0", "00", 0])
def test_absent_blank_or_zero_is_no_limit(value):
    for name in NAMES:
        limits = Limits.from_settings(settings(**{name: value})[0])
        assert limits == Limits() and not limits.active


def test_whole_yuan_and_unquoted_toml_numbers_are_accepted():
    limits = Limits.from_settings(
        settings(GLMCHAT_LIMIT_CNY_DAY="3", GLMCHAT_LIMIT_VISITOR_CNY_DAY=0.5, GLMCHAT_LIMIT_RPM=30)[0]
    )
    assert (limits.cny_day, limits.visitor_cny_day, limits.rpm) == (3.0, 0.5, 30)
    assert isinstance(limits.cny_day, float)
    assert (
        Limits.from_settings(settings(GLMCHAT_LIMIT_CNY_DAY="0.0", GLMCHAT_LIMIT_VISITOR_CNY_DAY="0.")[0]) == Limits()
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("GLMCHAT_LIMIT_RPM", "-1"),
        ("GLMCHAT_LIMIT_RPM", "1.5"),
        ("GLMCHAT_LIMIT_VISITOR_RPM", "ten"),
        ("GLMCHAT_LIMIT_TOKENS_DAY", "1e6"),
        ("GLMCHAT_LIMIT_STREAMS", "0.0"),
        ("GLMCHAT_LIMIT_TOKENS_DAY", "1_000"),
        ("GLMCHAT_LIMIT_STREAMS", "٣"),
        ("GLMCHAT_LIMIT_VISITOR_STREAMS", True),
        ("GLMCHAT_LIMIT_CNY_DAY", "-0.5"),
        ("GLMCHAT_LIMIT_CNY_DAY", "nan"),
        ("GLMCHAT_LIMIT_CNY_DAY", "inf"),
        ("GLMCHAT_LIMIT_VISITOR_CNY_DAY", "¥5"),
        ("GLMCHAT_LIMIT_VISITOR_CNY_DAY", "1e3"),
    ],
)
def test_invalid_values_raise_naming_the_setting(name, value):
    with pytest.raises(ValueError) as info:
        Limits.from_settings(settings(**{name: value})[0])
    assert name in str(info.value) and "no limit" in str(info.value)


def test_active_and_scope():
    assert not Limits().active
    for field in (
        "rpm",
        "visitor_rpm",
        "tokens_day",
        "visitor_tokens_day",
        "cny_day",
        "visitor_cny_day",
        "streams",
        "visitor_streams",
    ):
        assert Limits(**{field: 1}).active
    limits = Limits(
        rpm=1,
        visitor_rpm=2,
        tokens_day=3,
        visitor_tokens_day=4,
        cny_day=5.0,
        visitor_cny_day=6.0,
        streams=7,
        visitor_streams=8,
    )
    assert tuple(vars(limits.scope("app")).values()) == (1, 3, 5.0, 7)
    assert tuple(vars(limits.scope("visitor")).values()) == (2, 4, 6.0, 8)


# --------------------------------------------------------------------------- the day


@pytest.mark.parametrize(
    "now, start",
    [
        (datetime(2025, 3, 1, 15, 59, 59, 999999, tzinfo=UTC), datetime(2025, 2, 28, 16, 0, tzinfo=UTC)),
        (datetime(2025, 3, 1, 16, 0, tzinfo=UTC), datetime(2025, 3, 1, 16, 0, tzinfo=UTC)),
        (datetime(2025, 3, 1, 16, 0, 0, 1, tzinfo=UTC), datetime(2025, 3, 1, 16, 0, tzinfo=UTC)),
        (datetime(2025, 3, 1, 0, 0, tzinfo=UTC), datetime(2025, 2, 28, 16, 0, tzinfo=UTC)),
        (datetime(2024, 12, 31, 20, 0, tzinfo=UTC), datetime(2024, 12, 31, 16, 0, tzinfo=UTC)),  # 2025-01-01 in Beijing
        (datetime(2025, 3, 2, 0, 30, tzinfo=timezone(timedelta(hours=8))), datetime(2025, 3, 1, 16, 0, tzinfo=UTC)),
        (datetime(2025, 3, 1, 10, 59, tzinfo=timezone(timedelta(hours=-5))), datetime(2025, 2, 28, 16, 0, tzinfo=UTC)),
        (datetime(2025, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=-5))), datetime(2025, 3, 1, 16, 0, tzinfo=UTC)),
        (datetime(2025, 3, 1, 17, 0), datetime(2025, 3, 1, 16, 0, tzinfo=UTC)),  # naive means UTC
    ],
)
def test_day_starts_at_midnight_in_beijing(now, start):
    got = day_start(now)
    assert got == start and got.utcoffset() == timedelta(0)


# --------------------------------------------------------------------------- decisions

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)  # 20:00 in Beijing: 4 hours until the day resets
TOMORROW = 4 * 3600.0
NONE = Usage()


def ago(*seconds: float) -> tuple[datetime, ...]:
    return tuple(sorted(NOW - timedelta(seconds=s) for s in seconds))


@pytest.mark.parametrize("scope", ["app", "visitor"])
def test_each_limit_at_its_threshold(scope):
    p = "" if scope == "app" else "visitor_"

    def check(usage: Usage, **fields):
        limits = Limits(**{p + k: v for k, v in fields.items()})
        return limits.check(usage, usage, NOW) if scope == "visitor" else limits.check(NONE, usage, NOW)

    assert check(Usage(recent=ago(50, 10)), rpm=3) is None
    assert check(Usage(recent=ago(50, 30, 10)), rpm=3) == Refusal(
        "rpm", scope, 10.0, 3, 3
    )  # the oldest leaves at +10 s
    assert check(Usage(tokens=999), tokens_day=1000) is None
    assert check(Usage(tokens=1000), tokens_day=1000) == Refusal("tokens_day", scope, TOMORROW, 1000, 1000)
    assert check(Usage(cost=0.49), cny_day=0.5) is None
    assert check(Usage(cost=0.5), cny_day=0.5) == Refusal("cny_day", scope, TOMORROW, 0.5, 0.5)
    assert check(Usage(streams=1), streams=2) is None
    assert check(Usage(streams=2), streams=2) == Refusal("streams", scope, None, 2, 2)


def test_rpm_over_the_limit_waits_until_enough_have_left():
    # Five in the window against a limit of 3 (it was lowered): three must leave, the third oldest at +20 s.
    refusal = Limits(rpm=3).check(NONE, Usage(recent=ago(55, 50, 40, 5, 1)), NOW)
    assert refusal == Refusal("rpm", "app", 20.0, 3, 5)


def test_retry_after_for_the_day_counts_to_16_utc():
    usage = Usage(tokens=5)
    for now, left in (
        (datetime(2025, 3, 1, 15, 59, 30, tzinfo=UTC), 30.0),
        (datetime(2025, 3, 1, 16, 0, tzinfo=UTC), 86400.0),
        (datetime(2025, 3, 1, 16, 0, 1, tzinfo=UTC), 86399.0),
    ):
        assert Limits(tokens_day=5).check(NONE, usage, now).retry_after == left


def test_visitor_limits_come_first_then_day_limits_first_within_a_scope():
    full = Usage(recent=ago(1), tokens=10, cost=1.0, streams=1)
    every = Limits(
        rpm=1,
        visitor_rpm=1,
        tokens_day=10,
        visitor_tokens_day=10,
        cny_day=1.0,
        visitor_cny_day=1.0,
        streams=1,
        visitor_streams=1,
    )
    assert every.check(full, full, NOW).scope == "visitor"
    assert every.check(NONE, full, NOW).scope == "app"
    order = []
    limits = every
    while True:
        refusal = limits.check(full, full, NOW)
        if refusal is None:
            break
        order.append((refusal.scope, refusal.kind))
        limits = Limits(**{**vars(limits), ("visitor_" if refusal.scope == "visitor" else "") + refusal.kind: None})
    assert order == [
        ("visitor", "tokens_day"),
        ("visitor", "cny_day"),
        ("visitor", "rpm"),
        ("visitor", "streams"),
        ("app", "tokens_day"),
        ("app", "cny_day"),
        ("app", "rpm"),
        ("app", "streams"),
    ]


def test_the_visitors_usage_is_not_checked_against_app_limits_or_the_reverse():
    assert Limits(visitor_streams=1).check(NONE, Usage(streams=5), NOW) is None
    assert Limits(streams=1).check(Usage(streams=5), NONE, NOW) is None
