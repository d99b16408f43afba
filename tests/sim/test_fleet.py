import random

import pytest

from core.areas import AreaIndex
from firmware_sim.fleet import ScriptedPress, homes_in_wonosobo, parse_script


def test_homes_fall_inside_wonosobo() -> None:
    index = AreaIndex.load()
    homes = homes_in_wonosobo(200, random.Random(3))
    assert len(homes) == 200
    assert not any(index.lookup(lat, lon).outside for lat, lon in homes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0,1\n", [ScriptedPress(0.0, 1, "panic")]),
        ("# gempa\n2.5, 3, fire\n1,0 # first\n\n", [ScriptedPress(1.0, 0), ScriptedPress(2.5, 3, "fire")]),
    ],
)
def test_script_parses(text: str, expected: list[ScriptedPress]) -> None:
    assert parse_script(text) == expected


@pytest.mark.parametrize("text", ["x,1", "1", "-1,2", "1,-2"])
def test_bad_script_lines_say_where(text: str) -> None:
    with pytest.raises(ValueError, match="script line 1"):
        parse_script(text)
