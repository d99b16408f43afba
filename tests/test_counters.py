from core.counters import Counters


class _Stats(Counters, names="received acked", tallies="by_reason"):
    """Two counters and a tally, as the gateway's stats are declared."""


def test_counters_start_at_zero_and_bump() -> None:
    stats = _Stats()
    stats.received += 2
    stats.by_reason["garbage"] += 1
    assert stats.as_dict() == {"received": 2, "acked": 0}
    assert stats.by_reason.get("garbage", 0) == 1 and stats.by_reason.get("other", 0) == 0
    assert repr(stats) == "_Stats(received=2, acked=0, by_reason=Counter({'garbage': 1}))"


def test_counters_compare_by_value() -> None:
    a, b = _Stats(), _Stats()
    assert a == b
    a.acked += 1
    assert a != b
