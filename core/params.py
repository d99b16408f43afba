"""One validation layer at the HTTP boundary: typed parameters and a middleware.

Two halves:

* :func:`input_guard`, a middleware every route gets without asking: a control character in the
  path, in any query value, in any urlencoded or multipart text field, or in any string (or key)
  anywhere in a JSON body is refused with a 400 before the handler runs. PostgreSQL text cannot
  hold NUL, a lone surrogate cannot be encoded, and no field of SIAGA has a use for the others, so
  no handler should ever see them.
* Typed helpers (:func:`integer`, :func:`reference`, :func:`day`, :func:`instant`,
  :func:`number`, :func:`text`) that handlers call instead of ``int()`` / ``fromisoformat()`` /
  ``float()``, and Annotated types (:data:`Line`, :data:`Text`, :data:`Int64`, :data:`Id`,
  :data:`Day`, :data:`Instant`, :data:`Finite`) for pydantic request models. Each refuses with
  :class:`BadParam`, whose message is Bahasa Indonesia; the middleware turns it into the module's
  error shape: JSON ``{"error", "message"}`` (``core.auth.json_error``), or the HTML or Open311
  error page a module registered for its path prefix with :func:`register_error_page`.

Bounds follow the columns: every id is a ``bigint`` (1 .. 2**63-1); dates and instants are held
to 1900-2100 so that shifting by an offset or a time zone never leaves Python's range.
"""

from __future__ import annotations

import json
import logging
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

import orjson
from aiohttp import web
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from core import appkeys, auth

log = logging.getLogger(__name__)
H = TypeVar("H", bound=Callable[..., Any])
M = TypeVar("M", bound=BaseModel)
_D = TypeVar("_D", bound=date)  # a date or a datetime

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
YEAR_MIN, YEAR_MAX = 1900, 2100
# Longer than any route of SIAGA needs; a file name segment beyond 255 bytes makes the kernel
# answer ENAMETOOLONG, which is a 500 if it reaches a file lookup.
MAX_PATH = 1024
MAX_QUERY_VALUE = 2000

# Bidirectional embeddings, overrides and isolates: they make a name or a code read differently
# from what it is (a "Trojan Source" trick); refused in single-line fields, allowed in free text.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_MULTILINE_OK = frozenset("\t\n\r")
_DIGITS = re.compile(r"[+-]?[0-9]{1,20}")


# What the guard may answer on any route, before the handler: for the OpenAPI document's responses.
GUARD_REFUSALS: dict[int, str] = {
    400: "parameter tidak sah (karakter kendali, isian tidak dapat dibaca)",
    413: "isi permintaan terlalu besar",
    414: "alamat terlalu panjang",
}


class BadParam(Exception):
    """A refused parameter: ``name`` is the field, ``message`` says why in Bahasa Indonesia."""

    def __init__(self, name: str, message: str, *, code: str = "bad_param", status: int = 400) -> None:
        super().__init__(message)
        self.name = name
        self.message = message
        self.code = code
        self.status = status


# --- characters -----------------------------------------------------------------------------------


def bad_character(value: str, *, multiline: bool = False, bidi: bool = True) -> str | None:
    """The first character of ``value`` no field may hold, or None.

    Refused: C0 controls (tab, line feed and carriage return only when ``multiline``), DEL and the
    C1 controls, lone surrogates (they cannot be encoded to UTF-8) and, unless ``bidi``, the
    bidirectional overrides."""
    for ch in value:
        o = ord(ch)
        if o < 0x20:
            if multiline and ch in _MULTILINE_OK:
                continue
            return ch
        if 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xDFFF:
            return ch
        if not bidi and ch in _BIDI:
            return ch
    return None


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def _check_text(value: str, name: str, *, multiline: bool, bidi: bool) -> str:
    ch = bad_character(value, multiline=multiline, bidi=bidi)
    if ch is not None:
        raise BadParam(name, f"isian {name!r} berisi karakter yang tidak diizinkan ({_describe(ch)})", code="bad_char")
    return value


def text(value: object, name: str, *, max_length: int, multiline: bool = False, required: bool = False) -> str:
    """A text field, stripped: no control characters (see :func:`bad_character`), at most
    ``max_length`` characters; '' when absent unless ``required``."""
    s = value.strip() if isinstance(value, str) else ""
    if required and not s:
        raise BadParam(name, f"isian {name!r} wajib diisi", code="missing")
    if len(s) > max_length:
        raise BadParam(name, f"isian {name!r} terlalu panjang (paling banyak {max_length} karakter)", code="too_long")
    return _check_text(s, name, multiline=multiline, bidi=multiline)


# --- numbers --------------------------------------------------------------------------------------


def integer(value: object, name: str, *, lo: int = 1, hi: int = INT64_MAX) -> int:
    """An integer written in ASCII digits, within ``lo..hi`` (by default a bigint id).

    ``str.isdigit()`` and ``int()`` accept '²' or Arabic-Indic digits, and ``int()`` any length;
    neither fits a column."""
    if isinstance(value, bool):
        raise BadParam(name, f"{name} harus bilangan bulat", code="bad_number")
    if isinstance(value, int):
        n = value
    else:
        s = value.strip() if isinstance(value, str) else ""
        if not _DIGITS.fullmatch(s):
            raise BadParam(name, f"{name} harus bilangan bulat", code="bad_number")
        n = int(s)
    if not lo <= n <= hi:
        raise BadParam(name, f"{name} harus antara {lo} dan {hi}", code="out_of_range")
    return n


def reference(value: object, name: str) -> int:
    """The id of a row (bigint, positive). Whether the row exists is the caller's query."""
    return integer(value, name, lo=1, hi=INT64_MAX)


def as_id(value: str) -> int | None:
    """``value`` as a row id if it is one (ASCII digits, within a bigint), else None: for a
    reference that may be an id or a code."""
    s = value.strip()
    if not s.isascii() or not s.isdigit() or len(s) > 19:
        return None
    n = int(s)
    return n if 1 <= n <= INT64_MAX else None


def number(value: object, name: str, *, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A finite decimal number within ``lo..hi`` (nan and inf are refused)."""
    try:
        x = float(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else math.nan
    except ValueError:
        x = math.nan
    if not math.isfinite(x):
        raise BadParam(name, f"{name} harus angka", code="bad_number")
    if not lo <= x <= hi:
        raise BadParam(name, f"{name} harus antara {lo:g} dan {hi:g}", code="out_of_range")
    return x


# --- dates ----------------------------------------------------------------------------------------


def _year_ok(year: int, name: str) -> None:
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise BadParam(name, f"{name}: tahun harus antara {YEAR_MIN} dan {YEAR_MAX}", code="out_of_range")


def _iso(value: object, name: str, parse: Callable[[str], _D], refusal: str, code: str) -> _D:
    """``value`` read by ``parse`` (a ``fromisoformat``), refused with ``refusal`` when it is not
    text it reads, and with a year outside 1900-2100."""
    try:
        parsed = parse(value.strip()) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise BadParam(name, refusal, code=code)
    _year_ok(parsed.year, name)
    return parsed


def day(value: object, name: str) -> date:
    """A calendar date, ISO 8601 (YYYY-MM-DD), of a year 1900-2100."""
    return _iso(value, name, date.fromisoformat, f"{name} harus tanggal (TTTT-BB-HH)", "bad_date")


def instant(value: object, name: str, *, need_offset: bool = True) -> datetime:
    """A point in time, ISO 8601, with a UTC offset (unless ``need_offset`` is False, then UTC
    is assumed), of a year 1900-2100. Returned aware, in UTC."""
    # the year is checked before the shift: year 1 at +14:00 is before datetime.min in UTC (OverflowError)
    t = _iso(value, name, datetime.fromisoformat, f"{name} harus waktu ISO-8601", "bad_datetime")
    if t.tzinfo is None:
        if need_offset:
            raise BadParam(name, f"{name} harus memakai selisih zona waktu (mis. +07:00)", code="bad_datetime")
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


# --- pydantic types for request models ------------------------------------------------------------


def _line(value: str) -> str:
    ch = bad_character(value, multiline=False, bidi=False)
    if ch is not None:
        raise ValueError(f"berisi karakter yang tidak diizinkan ({_describe(ch)})")
    return value


def _multiline(value: str) -> str:
    ch = bad_character(value, multiline=True)
    if ch is not None:
        raise ValueError(f"berisi karakter yang tidak diizinkan ({_describe(ch)})")
    return value


def _date_in_range(value: date) -> date:
    # within 1900-2100 any offset or time zone shift stays inside Python's and PostgreSQL's range
    if not YEAR_MIN <= value.year <= YEAR_MAX:
        raise ValueError(f"tahun harus antara {YEAR_MIN} dan {YEAR_MAX}")
    return value


# The same rules as patterns for the OpenAPI document (so a client or a fuzzer knows them); the
# validators above enforce them (and lone surrogates, which no pattern can name)
_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$"
_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
# A single-line field (names, codes, units): no control characters, no bidirectional overrides.
Line = Annotated[str, AfterValidator(_line), Field(json_schema_extra={"pattern": _LINE_PATTERN})]
# Free text (notes, descriptions): tab and line breaks allowed, no other control characters.
Text = Annotated[str, AfterValidator(_multiline), Field(json_schema_extra={"pattern": _TEXT_PATTERN})]
Int64 = Annotated[int, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
Int32 = Annotated[int, Field(ge=-INT32_MAX - 1, le=INT32_MAX)]
# The id of a row: every id column is a bigint identity.
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
Day = Annotated[date, AfterValidator(_date_in_range)]
Instant = Annotated[datetime, AfterValidator(_date_in_range)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


# --- pydantic's refusals, in Bahasa Indonesia ---------------------------------------------------

# pydantic's ``msg`` is English: each error ``type`` a request model can raise gets its sentence
# here, with the bounds from its context; ``type`` and ``loc`` stay as pydantic gives them.
_PYDANTIC_MSG: dict[str, str] = {
    "missing": "wajib diisi",
    "extra_forbidden": "tidak dikenal",
    "model_type": "harus berupa objek JSON",
    "model_attributes_type": "harus berupa objek JSON",
    "dict_type": "harus berupa objek JSON",
    "json_invalid": "bukan JSON yang sah",
    "json_type": "bukan JSON yang sah",
    "list_type": "harus berupa daftar",
    "string_type": "harus berupa teks",
    "string_too_short": "paling sedikit {min_length} karakter",
    "string_too_long": "paling banyak {max_length} karakter",
    "string_pattern_mismatch": "bentuknya tidak sah",
    # (a string whose length is checked after a validator, as Line's, is a too_long, not a string_too_long)
    "too_short": "terlalu pendek (paling sedikit {min_length})",
    "too_long": "terlalu panjang (paling banyak {max_length})",
    "int_type": "harus bilangan bulat",
    "int_parsing": "harus bilangan bulat",
    "int_from_float": "harus bilangan bulat",
    "int_parsing_size": "harus bilangan bulat dalam batas",
    "float_type": "harus angka",
    "float_parsing": "harus angka",
    "finite_number": "harus angka terhingga",
    "bool_type": "harus true atau false",
    "bool_parsing": "harus true atau false",
    "greater_than": "harus lebih dari {gt}",
    "greater_than_equal": "paling kecil {ge}",
    "less_than": "harus kurang dari {lt}",
    "less_than_equal": "paling besar {le}",
    "literal_error": "harus salah satu dari {expected}",
    "enum": "harus salah satu dari {expected}",
    "uuid_type": "harus UUID",
    "uuid_parsing": "harus UUID",
    "date_type": "harus tanggal (TTTT-BB-HH)",
    "date_parsing": "harus tanggal (TTTT-BB-HH)",
    "date_from_datetime_parsing": "harus tanggal (TTTT-BB-HH)",
    "date_from_datetime_inexact": "harus tanggal tanpa jam",
    "datetime_type": "harus waktu ISO-8601",
    "datetime_parsing": "harus waktu ISO-8601",
    "datetime_from_date_parsing": "harus waktu ISO-8601",
    "timezone_aware": "harus memakai selisih zona waktu (mis. +07:00)",
    "union_tag_invalid": "jenisnya tidak dikenal",
    "union_tag_not_found": "jenisnya wajib diisi",
}


def _expected(ctx: dict[str, Any]) -> dict[str, Any]:
    # pydantic joins the choices of a Literal or an enum as "'a', 'b' or 'c'"
    # (indexing, not .get: tests/security/test_probes.py reads .get("name") as a request parameter)
    if "expected" in ctx and isinstance(ctx["expected"], str):
        head, sep, last = ctx["expected"].rpartition(" or ")
        ctx = ctx | {"expected": f"{head} atau {last}" if sep else last}
    return ctx


def validation_detail(err: ValidationError) -> list[dict[str, Any]]:
    """The ``detail`` of a 422: each of pydantic's errors as ``{"type", "loc", "msg"}``, its ``msg``
    in Bahasa Indonesia. A validator of this module (``Line``, ``Day``...) already says why in
    Bahasa Indonesia; any other type gets a general sentence, never pydantic's English."""
    out: list[dict[str, Any]] = []
    for e in err.errors(include_url=False, include_input=False):
        kind, loc, ctx = e["type"], e["loc"], e["ctx"] if "ctx" in e else {}
        where = ".".join(str(part) for part in loc)
        if kind == "value_error" and "error" in ctx and isinstance(ctx["error"], ValueError):
            why = str(ctx["error"])  # raised by this module's validators, in Bahasa Indonesia
        else:
            try:
                why = _PYDANTIC_MSG.get(kind, "tidak sah").format_map(_expected(ctx))
            except (KeyError, IndexError, ValueError):
                why = "tidak sah"
        out.append({"type": kind, "loc": list(loc), "msg": f"isian {where!r} {why}" if where else f"isi {why}"})
    return out


# --- the middleware -------------------------------------------------------------------------------

ErrorPage = Callable[[web.Request, BadParam], Awaitable[web.StreamResponse] | web.StreamResponse]


def register_error_page(app: web.Application, prefix: str, render: ErrorPage) -> None:
    """Refusals of requests under ``prefix`` are answered by ``render`` (an HTML page, Open311's
    error document) instead of JSON. The longest matching prefix wins."""
    app.setdefault(appkeys.ERROR_PAGES, {})[prefix] = render


def _page_for(request: web.Request) -> ErrorPage | None:
    path = request.path
    if path.startswith("/api/"):
        return None
    pages: dict[str, ErrorPage] = request.app.get(appkeys.ERROR_PAGES) or {}
    matches = [p for p in pages if path == p or path.startswith(p.rstrip("/") + "/")]
    return pages[max(matches, key=len)] if matches else None


async def refuse(request: web.Request, err: BadParam) -> web.StreamResponse:
    """The refusal of ``err`` in the error shape of the route's module."""
    render = _page_for(request)
    if render is not None:
        out = render(request, err)
        return await out if not isinstance(out, web.StreamResponse) else out
    return auth.json_error(err.status, err.code, err.message, field=err.name)


def _strings(value: Any) -> Iterator[tuple[str, str]]:
    """Every string in a JSON value, keys included, with where it is ("rules[0].note").
    Iterative: a body nested a thousand deep must not exhaust the recursion limit."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, str):
            yield where, v
        elif isinstance(v, dict):
            for k, item in v.items():
                path = f"{where}.{k}" if where else str(k)
                yield path, k
                stack.append((path, item))
        elif isinstance(v, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(v))


def _check_request_line(request: web.Request) -> None:
    if len(request.path) > MAX_PATH:
        raise BadParam(
            "path", f"alamat terlalu panjang (paling banyak {MAX_PATH} karakter)", code="too_long", status=414
        )
    ch = bad_character(request.path)
    if ch is not None:
        raise BadParam("path", f"alamat berisi karakter yang tidak diizinkan ({_describe(ch)})", code="bad_char")
    for key, value in request.query.items():
        for what, s in (("nama parameter", key), ("parameter", value)):
            if len(s) > MAX_QUERY_VALUE:
                raise BadParam(key[:40], f"parameter {key[:40]!r} terlalu panjang", code="too_long")
            ch = bad_character(s)
            if ch is not None:
                raise BadParam(
                    key[:40],
                    f"{what} {key[:40]!r} berisi karakter yang tidak diizinkan ({_describe(ch)})",
                    code="bad_char",
                )


_MAX_BODY_ATTR = "__siaga_max_body__"


def max_body(limit: int) -> Callable[[H], H]:
    """The route takes bodies of at most ``limit`` bytes (below the app's ``client_max_size``).
    The guard reads the body under this limit, so a handler must not clone the request to set it."""

    def mark(handler: H) -> H:
        setattr(handler, _MAX_BODY_ATTR, limit)
        return handler

    return mark


def _too_large(limit: int) -> BadParam:
    return BadParam("body", f"isi permintaan terlalu besar (paling banyak {limit} bait)", code="too_large", status=413)


async def read_body(request: web.Request) -> bytes:
    """The request's body, for a handler that takes one the guard does not parse (CSV, or JSON sent
    under another type): over the limit it is a :class:`BadParam` 413 in the module's error shape,
    not aiohttp's plain-text answer."""
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(request.client_max_size) from None


async def read_model(request: web.Request, model: type[M]) -> M:
    """A JSON API body validated into ``model``; one that does not fit is a 422 with the ``detail``
    of :func:`validation_detail`. (A control character never gets here: the guard refused it.)"""
    try:
        return model.model_validate_json(await read_body(request))
    except ValidationError as err:
        raise web.HTTPUnprocessableEntity(
            text=orjson.dumps(
                {"error": "invalid", "message": "Isi permintaan tidak sah.", "detail": validation_detail(err)}
            ).decode(),
            content_type="application/json",
        ) from None


async def _check_body(request: web.Request) -> None:
    if not request.body_exists or request.method not in request.POST_METHODS:
        return
    ctype = request.content_type
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(request.client_max_size) from None
        except (ValueError, AssertionError):  # aiohttp's multipart reader asserts on a broken boundary
            raise BadParam("body", "isi formulir tidak dapat dibaca", code="bad_form") from None
        fields: Iterator[tuple[str, str]] = (
            pair for k, v in form.items() for pair in ((k, k), (k, v)) if isinstance(pair[1], str)
        )
    elif ctype == "application/json" or ctype.endswith("+json"):
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _too_large(request.client_max_size) from None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # orjson refuses what Python's parser (and pydantic's) may still take: a lone surrogate,
            # 1e400, NaN; a NUL beside one of them must not slip past
            try:
                data = json.loads(raw)
            except (ValueError, RecursionError):
                return  # not JSON at all: the handler's parser answers that
        fields = _strings(data)
    else:
        return
    for name, value in fields:
        ch = bad_character(value, multiline=True)
        if ch is not None:
            raise BadParam(
                name[:80],
                f"isian {name[:80]!r} berisi karakter yang tidak diizinkan ({_describe(ch)})",
                code="bad_char",
            )


@web.middleware
async def input_guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Refuse control characters in the path, the query and the body before any handler runs,
    and answer every :class:`BadParam` a handler raises in its module's error shape."""
    try:
        # (invalid UTF-8 needs no check here: yarl decodes it in the query to U+FFFD and leaves it
        # percent-encoded in the path)
        _check_request_line(request)
        if request.match_info.http_exception is None:
            limit = getattr(request.match_info.handler, _MAX_BODY_ATTR, None)
            if limit is not None:
                if request.content_length is not None and request.content_length > limit:
                    raise _too_large(limit)
                try:
                    request = request.clone(client_max_size=limit)
                except RuntimeError:  # an earlier middleware read the body (a form's CSRF field)
                    if len(await request.read()) > limit:
                        raise _too_large(limit) from None
            await _check_body(request)
        return await handler(request)
    except BadParam as err:
        log.info("refused %s %s: %s", request.method, request.path[:200], err.message)
        return await refuse(request, err)
    except web.HTTPException as exc:
        # the router's own 404/405 and a handler's bare `raise web.HTTPNotFound()` carry aiohttp's
        # English "404: Not Found": answer them in the module's shape and in Bahasa Indonesia; an
        # exception that says something of its own (a JSON body, a redirect) goes out as it is
        if exc.status < 400 or exc.text != f"{exc.status}: {exc.reason}":
            raise
        response = await refuse(request, _http_refusal(request, exc))
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response


# The words of a bare HTTP refusal (no text of its own), by status.
_HTTP_REFUSALS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Permintaan tidak dapat dibaca."),
    403: ("forbidden", "Anda tidak boleh membuka alamat ini."),
    404: ("not_found", "Alamat atau data itu tidak ditemukan."),
    405: ("method_not_allowed", "Alamat ini tidak melayani cara permintaan itu."),
    413: ("too_large", "Isi permintaan terlalu besar."),
    415: ("unsupported_type", "Jenis isi permintaan tidak didukung."),
}


def _http_refusal(request: web.Request, exc: web.HTTPException) -> BadParam:
    code, message = _HTTP_REFUSALS.get(exc.status, ("refused", "Permintaan ditolak."))
    return BadParam("path", message, code=code, status=exc.status)


def uploaded_text(form: Any, name: str, *, max_bytes: int = 2 * 1024 * 1024) -> str:
    """The text of the file uploaded as ``name`` in a multipart form (UTF-8, a spreadsheet's BOM
    dropped); '' when no file was chosen. BadParam when it is larger than ``max_bytes`` or not UTF-8."""
    upload = form.get(name)
    data = b""
    if isinstance(upload, web.FileField):
        data = upload.file.read(max_bytes + 1)
    elif isinstance(upload, bytes | bytearray):  # an empty file input arrives as bytes
        data = bytes(upload)
    elif isinstance(upload, str):
        data = upload.encode()
    if len(data) > max_bytes:
        raise BadParam(name, f"berkas lebih dari {max_bytes // 1024} KB", code="too_large", status=413)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadParam(name, "berkas harus teks UTF-8 (CSV)", code="bad_encoding") from None
