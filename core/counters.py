"""Event counters: the integers a component bumps as it works, read by /metrics, tests and the benches."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, ClassVar


class Counters:
    """A set of named counters, each starting at zero and bumped with ``+=``.

    A subclass names its counters on one line, ``class GatewayStats(Counters, names="received acked")``,
    and its tallies, counts by a key such as a refusal's reason (``stats.by_reason[reason] += 1``),
    with ``tallies="by_reason"``. The counters are plain instance attributes, as a dataclass's fields
    are, so a bump costs the same.
    """

    names: ClassVar[tuple[str, ...]] = ()
    tallies: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, names: str = "", tallies: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.names = cls.names + tuple(names.split())
        cls.tallies = cls.tallies + tuple(tallies.split())

    def __init__(self) -> None:
        for name in self.names:
            setattr(self, name, 0)
        for name in self.tallies:
            setattr(self, name, Counter())

    if TYPE_CHECKING:
        # the counters are named at run time; to a type checker each is an int (a tally, a Counter)
        def __getattr__(self, name: str) -> Any: ...

    def as_dict(self) -> dict[str, int]:
        """The counters (not the tallies), in the order the class names them: what /metrics exports."""
        return {name: getattr(self, name) for name in self.names}

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({shown})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass with eq
