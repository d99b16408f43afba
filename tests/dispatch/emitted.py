"""Every event kind the code can emit, collected from the source (not from a hand list).

Python: each call of ``core.events.append``/``append_many`` (as ``events.append(conn, KIND, ...)``
or imported by name), with KIND a literal or an f-string whose holes are enumerated from where
their values come from (:func:`dynamic_values`). SQL, in string literals of the code and in
``.sql`` files: each ``INSERT INTO event (...)`` whose ``kind`` is a literal. Anything the collector
cannot enumerate (a kind in a variable, an f-string hole it does not know, an ``INSERT`` with the
kind as a parameter outside ``core/events.py``) is a problem, so a new way of emitting events
cannot slip past the visibility table unseen.
"""

from __future__ import annotations

import ast
import itertools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "dispatch", "complaints", "gateway", "siaga")
_APPENDERS = frozenset({"append", "append_many"})
# the bus's own generic INSERTs, whose kind is the caller's (collected at the calls)
_PARAMETERISED_OK = frozenset({"core/events.py"})
_INSERT = re.compile(r"\bINSERT\s+INTO\s+(?:public\.)?event\s*\(([^)]*)\)\s*(VALUES\s*\(|SELECT\s+)", re.I)


def _subclasses(cls: type) -> Iterable[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def dynamic_values() -> dict[str, frozenset[str]]:
    """The values of each expression the code puts into an f-string event kind."""
    from complaints import model
    from dispatch.states import State

    actions = {c.name for c in _subclasses(model.Action) if "name" in vars(c)} | set(model.ACTIONS)
    return {
        # complaints/store.py: f"complaint.{action.name}"
        "action.name": frozenset(actions),
        "t.action.name": frozenset(actions),
        # the incident's target state, as dispatch/service.py names its audit actions
        "target.value": frozenset(s.value for s in State),
    }


@dataclass
class Emitted:
    kinds: dict[str, list[str]] = field(default_factory=dict)  # kind -> where ("path:line")
    problems: list[str] = field(default_factory=list)

    def add(self, kinds: Iterable[str], where: str) -> None:
        for k in kinds:
            self.kinds.setdefault(k, []).append(where)


def _kinds_of(node: ast.expr, dynamic: Mapping[str, frozenset[str]]) -> frozenset[str] | str:
    """The kinds an expression can take, or a sentence saying why they cannot be enumerated."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return frozenset({node.value})
    if isinstance(node, ast.JoinedStr):
        parts: list[frozenset[str]] = []
        for v in node.values:
            if isinstance(v, ast.Constant):
                parts.append(frozenset({str(v.value)}))
            elif isinstance(v, ast.FormattedValue):
                expr = ast.unparse(v.value)
                if expr not in dynamic:
                    return f"f-string hole {{{expr}}}: say in tests/dispatch/emitted.py dynamic_values() what it takes"
                parts.append(dynamic[expr])
        return frozenset("".join(p) for p in itertools.product(*parts))
    return f"kind {ast.unparse(node)!r} is not a literal: emit literal kinds or enumerate them here"


def _split_top(text: str, count: int) -> list[str]:
    """The first ``count`` comma-separated SQL expressions of ``text`` (parentheses and quotes kept)."""
    out, depth, cur, quoted = [], 0, [], False
    for ch in text:
        if quoted:
            cur.append(ch)
            quoted = ch != "'"
            continue
        if ch == "'":
            quoted = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            if depth == 0:
                break
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            if len(out) == count:
                return out
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out[:count]


def _sql_kinds(sql: str, where: str, rel: str, found: Emitted) -> None:
    for m in _INSERT.finditer(sql):
        columns = [c.strip().lower() for c in m.group(1).split(",")]
        if "kind" not in columns:
            found.problems.append(f"{where}: INSERT INTO event without a kind column")
            continue
        index = columns.index("kind")
        values = _split_top(sql[m.end() :], index + 1)
        value = values[index].split()[0] if len(values) > index and values[index] else ""
        literal = re.fullmatch(r"'([^']*)'(?:::text)?", value)
        if literal:
            found.add([literal.group(1)], where)
        elif value.startswith("$") and rel in _PARAMETERISED_OK:
            continue
        else:
            found.problems.append(f"{where}: INSERT INTO event with kind {value!r}: use a literal")


def _imports_bus(tree: ast.Module) -> tuple[bool, set[str]]:
    """Whether the module imports ``core.events`` as ``events``, and the appenders imported by name."""
    as_module, direct = False, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "core":
            as_module |= any(a.name == "events" and (a.asname or a.name) == "events" for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "core.events":
            direct |= {a.asname or a.name for a in node.names if a.name in _APPENDERS}
        elif isinstance(node, ast.Import):
            as_module |= any(a.name == "core.events" and a.asname == "events" for a in node.names)
    return as_module, direct


def collect(root: Path = REPO, packages: Iterable[str] = PACKAGES) -> Emitted:
    found = Emitted()
    dynamic = dynamic_values()
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.suffix == ".sql":
                _sql_kinds(path.read_text("utf-8"), rel, rel, found)
                continue
            if path.suffix != ".py":
                continue
            tree = ast.parse(path.read_text("utf-8"), rel)
            as_module, direct = _imports_bus(tree)
            for node in ast.walk(tree):
                where = f"{rel}:{getattr(node, 'lineno', 0)}"
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    _sql_kinds(node.value, where, rel, found)
                if not isinstance(node, ast.Call):
                    continue
                f = node.func
                is_append = (
                    as_module
                    and isinstance(f, ast.Attribute)
                    and f.attr in _APPENDERS
                    and isinstance(f.value, ast.Name)
                    and f.value.id == "events"
                ) or (isinstance(f, ast.Name) and f.id in direct)
                if not is_append:
                    continue
                kind = (
                    node.args[1]
                    if len(node.args) > 1
                    else next((k.value for k in node.keywords if k.arg == "kind"), None)
                )
                if kind is None:
                    found.problems.append(f"{where}: an event appended without a kind the collector can see")
                    continue
                kinds = _kinds_of(kind, dynamic)
                if isinstance(kinds, str):
                    found.problems.append(f"{where}: {kinds}")
                else:
                    found.add(kinds, where)
    return found
