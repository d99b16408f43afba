"""What every step of a journey must hold, whoever the person is: no script errors, nothing
fetched from outside the machine, no JSON where a page was expected, and nothing on screen a
person in Wonosobo would not read as Bahasa Indonesia (an internal code, an English UI word, raw
JSON). Each step also leaves a full-page screenshot under ``var/screenshots/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import ConsoleMessage, Page, Request, Response

from core.labels import GROUPS

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

# Codes the product uses internally: the ones with a separator can never be a word of a sentence
# (``false_alarm``, ``incident.unattended``), so seeing one means a label was not looked up.
INTERNAL_CODES: frozenset[str] = frozenset(
    code for table in GROUPS.values() for code in table if "_" in code or "." in code
)

# English words of user interfaces that have an Indonesian one in the catalogue's register.
ENGLISH_WORDS: tuple[str, ...] = (
    "error",
    "forbidden",
    "not found",
    "unauthorized",
    "submit",
    "cancel",
    "loading",
    "none",
    "null",
    "undefined",
    "true",
    "false",
    "NaN",
    "zoom in",
    "zoom out",
    "sign in",
    "sign out",
    "log in",
    "login",
    "logout",
    "log out",
    "dashboard",
    "settings",
    "password",
    "username",
    "search",
    "save",
    "delete",
    "edit",
    "back",
    "next",
    "previous",
    "close",
    "home",
    "welcome",
    "invalid",
    "required",
    "failed",
    "success",
    "unknown",
    "incident",
    "status code",
    "internal server",
    "bad request",
)

_CODE_RE = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(c) for c in sorted(INTERNAL_CODES, key=len, reverse=True)) + r")(?![\w.])"
)
_ENGLISH_RE = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ENGLISH_WORDS) + r")(?!\w)", re.IGNORECASE
)

# What a person reads besides the text itself: tooltips, placeholders, screen-reader labels.
_READ_ATTRIBUTES_JS = """() => {
  const out = [];
  for (const el of document.querySelectorAll('[title], [placeholder], [aria-label], img[alt]')) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    for (const a of ['title', 'placeholder', 'aria-label', 'alt']) {
      const v = el.getAttribute(a);
      if (v) out.push(v);
    }
  }
  return out;
}"""


def untranslated(text: str) -> list[str]:
    """Every internal code, English UI word and raw JSON opening in ``text`` (pure, for tests)."""
    found = [f"code {m.group(1)!r}" for m in _CODE_RE.finditer(text)]
    found += [f"English {m.group(1)!r}" for m in _ENGLISH_RE.finditer(text)]
    if '{"' in text:
        at = text.index('{"')
        found.append(f"raw JSON {text[at : at + 60]!r}")
    return found


class Checker:
    """Attached to every page of one journey; :meth:`step` checks what is on screen now and
    :meth:`finish` fails on anything the page did meanwhile (errors, outside requests, JSON)."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.problems: list[str] = []
        self.reported = 0  # problems already raised at a step, so the end does not raise them again
        self.steps: list[str] = []

    def attach(self, page: Page) -> Page:
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.problems.append(f"page error on {page.url}: {exc}"))
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        return page

    def _on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text} ({msg.location.get('url', '')})")

    def _on_request(self, request: Request) -> None:
        url = request.url
        if url.startswith(("data:", "blob:", "about:")):
            return
        if urlsplit(url).hostname not in LOCAL_HOSTS:
            self.problems.append(f"request outside the machine: {url}")

    def _on_response(self, response: Response) -> None:
        if not response.request.is_navigation_request():
            return
        kind = response.headers.get("content-type", "")
        if kind.split(";")[0].strip().lower() == "application/json":
            self.problems.append(f"navigation answered with JSON: {response.status} {response.url}")

    async def step(self, page: Page, name: str) -> None:
        """Check the screen as it is now and keep a picture of it as ``<role>-<name>.png``."""
        self.steps.append(name)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{self.role}-{name}.png"), full_page=True)
        text = await page.locator("body").inner_text()
        attributes: Iterable[str] = await page.evaluate(_READ_ATTRIBUTES_JS)
        for where, words in (("text", text), ("attribute", "\n".join(attributes))):
            for problem in untranslated(words):
                self.problems.append(f"{self.role}/{name} ({page.url}) {where}: {problem}")
        self.raise_problems()

    def forget(self, url: str) -> None:
        """Drop what a page at ``url`` that is not built yet did (its 404 in the console)."""
        self.problems[self.reported :] = [p for p in self.problems[self.reported :] if url not in p]

    def raise_problems(self) -> None:
        new, self.reported = self.problems[self.reported :], len(self.problems)
        if new:
            raise AssertionError("\n".join(new))

    def finish(self) -> None:
        self.raise_problems()
