"""The seed CSVs behind ``siaga reference load`` (an admin edits them): any text and well-formed
files with hostile fields. parse_seed_csv answers rows that load, or a ReferenceDataError naming
the file, the line and the reason; nothing else."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway import reference
from tests.fuzz.support import fed, nasty_text, share

pytestmark = pytest.mark.fuzz

FILES = sorted(reference.SEED_COLUMNS)


def check(name: str, text: str) -> None:
    fed("reference parse_seed_csv")
    try:
        rows = reference.parse_seed_csv(name, text)
    except reference.ReferenceDataError as e:
        assert e.file == name and e.reason and e.line >= 0
        return
    for row in rows:
        assert set(row) == set(reference.SEED_COLUMNS[name])
        for value in row.values():
            assert "\x00" not in value and len(value) <= reference.MAX_FIELD
            value.encode("utf-8")  # no lone surrogates
        assert all(row[c] for c in reference.SEED_REQUIRED[name])
        if name == "wilayah.csv":
            assert row["level"] in reference.WILAYAH_LEVELS


@share(1 / 2)
@given(st.sampled_from(FILES), st.text(max_size=2000))
@example("wilayah.csv", "code,name,level,parent_code\n33.07,\x00,kabupaten,33\n")
@example("opd.csv", 'singkatan,nama,jenis,n_seeders_listing\n"unterminated')
@example("polsek.csv", "unit,kode_kec,source_url,source_date\n" + "x" * 200_000)
def test_any_text(name: str, text: str) -> None:
    check(name, text)


@st.composite
def seed_files(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(st.sampled_from(FILES))
    columns = list(reference.SEED_COLUMNS[name])
    if draw(st.booleans()):
        columns = draw(st.permutations(columns))
    if draw(st.integers(0, 9)) == 0:
        columns = columns[:-1]
    value = nasty_text | st.sampled_from(["kecamatan", "desa", "Polsek Kertek", "33.07.08", "Setda", "-", ""])
    rows = draw(st.lists(st.lists(value, min_size=len(columns) - 1, max_size=len(columns) + 1), max_size=8))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(columns)
    writer.writerows(rows)
    return name, out.getvalue()


@share(1 / 2)
@given(seed_files())
def test_hostile_seed_files(file: tuple[str, str]) -> None:
    check(*file)
