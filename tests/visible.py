"""What a person reads on a page: its text without tags, scripts or styles, and the internal codes
or English words that must never be among it (the pages' tests share these checks)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from core import labels
from core.pages import NAV
from core.roles import Role

# Words a page shows when a value slipped through untranslated.
ENGLISH = ("error", "none", "null", "true", "false", "undefined", "nan")
# Every code of the catalogue that looks like one (snake_case): a page shows its label instead.
CODES = sorted({code for table in labels.GROUPS.values() for code in table if "_" in code})
_LEAKS = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, [*ENGLISH, *CODES])) + r")(?![\w-])", re.IGNORECASE)
# A date in any order but the one format (03-12-2026): 2026-12-03 is a CSV's, never a page's.
_ISO_DAY = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def leaks(html: str) -> list[str]:
    """The internal codes, English words and ISO dates a person would read on ``html``."""
    text = visible_text(html)
    return [m.group(0) for m in _LEAKS.finditer(text)] + _ISO_DAY.findall(text)


def assert_in_layout(html: str, role: Role) -> None:
    """Rendered from the one layout: the role's label, "Keluar" and the role's whole menu."""
    text = visible_text(html)
    assert "Keluar" in text
    assert labels.ROLE[role.value] in text
    for words, href in NAV[role]:
        assert f'href="{href}"' in html and words in text, (role, words)
