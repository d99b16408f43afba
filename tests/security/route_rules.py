"""Who may call each route of the whole web application: the table the security suite checks the
running app against (tests/security/test_routes.py enumerates every route from the router).

A route added to the app without a line here fails the suite with the line to add. Add it here, in
the section of its area, with the roles you intend; the suite then calls the route as every role
and as an anonymous client and checks the middleware lets in exactly those. A public route (no
sign-in) says why it is public, and a public route that changes state says why a forged
cross-site request cannot act with a signed-in user's authority (``csrf_exempt``).

The role groups are written out here on purpose, not imported from the code under test: the table
is the independent statement of intent.
"""

from __future__ import annotations

from dataclasses import dataclass

OPERATOR = "operator"
SUPERVISOR = "supervisor"
COMMAND_CENTRE = "command_centre"
COMPLAINT_STAFF = "complaint_staff"
OPD_OFFICER = "opd_officer"
LEADER = "leader"
ADMIN = "admin"
ROLES = (OPERATOR, SUPERVISOR, COMMAND_CENTRE, COMPLAINT_STAFF, OPD_OFFICER, LEADER, ADMIN)

ANY_SIGNED_IN = frozenset(ROLES)
# the operator consoles and incidents: responders, the desk and the leaders who watch
INCIDENT_READERS = frozenset({OPERATOR, SUPERVISOR, COMMAND_CENTRE, LEADER, ADMIN})
INCIDENT_RESPONDERS = frozenset({OPERATOR, SUPERVISOR, COMMAND_CENTRE, ADMIN})
DISPATCH_DESK = frozenset({SUPERVISOR, COMMAND_CENTRE, ADMIN})
# the complaint desk
COMPLAINT_DESK = frozenset({COMPLAINT_STAFF, ADMIN})
COMPLAINT_READERS = frozenset({COMPLAINT_STAFF, ADMIN, OPD_OFFICER, LEADER, COMMAND_CENTRE})
COMPLAINT_ACTORS = frozenset({COMPLAINT_STAFF, ADMIN, OPD_OFFICER})
DASHBOARD = frozenset({LEADER, ADMIN})
# the duty roster: who watches which console, and who may change it
ROSTER_READERS = frozenset({OPERATOR, SUPERVISOR, COMMAND_CENTRE, LEADER, ADMIN})
ROSTER_EDITORS = frozenset({SUPERVISOR, ADMIN})
PRESENCE_DESK = frozenset({SUPERVISOR, COMMAND_CENTRE, LEADER, ADMIN})
# the regency IT admin's own pages: users, devices, the audit chain
ADMIN_ONLY = frozenset({ADMIN})


@dataclass(frozen=True)
class Rule:
    """``roles`` None = public, with ``public_because`` saying why."""

    roles: frozenset[str] | None
    public_because: str = ""
    # public and state-changing: why a cross-site form post cannot borrow a signed-in user's authority
    csrf_exempt: str = ""
    # the route ends the caller's session (the suite gives it a session of its own)
    ends_session: bool = False
    # the handler never reads the request body (an oversize body is simply not read)
    ignores_body: bool = False


def signed_in(roles: frozenset[str], **kw: bool) -> Rule:
    return Rule(frozenset(roles), **kw)  # type: ignore[arg-type]


def public(because: str, *, csrf_exempt: str = "") -> Rule:
    return Rule(None, public_because=because, csrf_exempt=csrf_exempt)


# (method, canonical path) -> rule. HEAD follows GET. "*" is a catch-all route of any method.
RULES: dict[tuple[str, str], Rule] = {
    # --- root, health, metrics (siaga/webapp.py, siaga/observability.py) ---------------------------
    ("GET", "/"): public("redirects to the console, which asks for a sign-in"),
    ("GET", "/healthz"): public("load balancers probe it; says only ok/degraded"),
    ("GET", "/metrics"): public("Prometheus scrapes it; counts only, no names (restrict at the proxy)"),
    # --- sign-in and the JSON API (dispatch/api.py) -------------------------------------------------
    ("POST", "/api/v1/login"): public(
        "the sign-in itself; rate-limited per user and per address",
        csrf_exempt="answers a bearer token in the body and sets no cookie, so a forged post gains nothing",
    ),
    ("POST", "/api/v1/logout"): signed_in(ANY_SIGNED_IN, ends_session=True, ignores_body=True),
    ("GET", "/api/v1/me"): signed_in(ANY_SIGNED_IN),
    ("GET", "/api/v1/agencies"): signed_in(ANY_SIGNED_IN),
    ("GET", "/api/v1/incidents"): signed_in(INCIDENT_READERS),
    ("GET", "/api/v1/incidents/{incident_id}"): signed_in(INCIDENT_READERS),
    ("POST", "/api/v1/incidents/{incident_id}/transition"): signed_in(INCIDENT_RESPONDERS),
    ("POST", "/api/v1/incidents/{incident_id}/notes"): signed_in(INCIDENT_RESPONDERS),
    ("GET", "/api/v1/complaint-categories"): signed_in(INCIDENT_RESPONDERS),
    ("GET", "/api/v1/stream"): signed_in(ANY_SIGNED_IN),
    ("GET", "/api/v1/routing-rules"): signed_in(DISPATCH_DESK),
    ("PUT", "/api/v1/routing-rules"): signed_in(ADMIN_ONLY),
    ("GET", "/api/v1/openapi.json"): public("the API's own description; holds no data"),
    # --- the operator console (dispatch/console.py) ---------------------------------------------------
    ("GET", "/login"): public("the sign-in form"),
    ("POST", "/login"): public(
        "the sign-in form",
        csrf_exempt="double-submit token: the form's field must match an HttpOnly SameSite=Strict cookie",
    ),
    ("POST", "/logout"): signed_in(ANY_SIGNED_IN, ends_session=True, ignores_body=True),
    ("GET", "/console"): signed_in(INCIDENT_READERS),
    ("GET", "/static/dispatch/{path}"): public("the console's own CSS and JavaScript"),
    ("GET", "/static/siaga/{path}"): public("the one stylesheet and script of every page, the sign-in page included"),
    ("GET", "/vendor/leaflet/{path}"): public("the map library, served locally"),
    ("GET", "/geo/{name}"): public("the regency's published boundary outlines, drawn on the citizen form"),
    # --- the duty roster and console presence (dispatch/roster_web.py) -------------------------------
    ("GET", "/piket"): signed_in(ROSTER_READERS),
    ("GET", "/piket/jadwal.csv"): signed_in(ROSTER_READERS),
    ("GET", "/piket/laporan.csv"): signed_in(PRESENCE_DESK),
    ("POST", "/piket/shift"): signed_in(ROSTER_EDITORS),
    ("POST", "/piket/jadwal"): signed_in(ROSTER_EDITORS),
    ("POST", "/piket/jadwal/hapus"): signed_in(ROSTER_EDITORS),
    ("POST", "/piket/tukar"): signed_in(ROSTER_EDITORS),
    ("POST", "/piket/impor"): signed_in(ROSTER_EDITORS),
    ("GET", "/api/v1/presence"): signed_in(PRESENCE_DESK),
    ("GET", "/api/v1/roster-report"): signed_in(PRESENCE_DESK),
    ("GET", "/api/v1/roster/{agency}/shifts"): signed_in(ROSTER_READERS),
    ("PUT", "/api/v1/roster/{agency}/shifts/{code}"): signed_in(ROSTER_EDITORS),
    ("DELETE", "/api/v1/roster/{agency}/shifts/{code}"): signed_in(ROSTER_EDITORS),
    ("GET", "/api/v1/roster/{agency}/{month}"): signed_in(ROSTER_READERS),
    ("GET", "/api/v1/roster/{agency}/{month}.csv"): signed_in(ROSTER_READERS),
    ("PUT", "/api/v1/roster/{agency}/{month}.csv"): signed_in(ROSTER_EDITORS),
    ("POST", "/api/v1/roster/{agency}/entries"): signed_in(ROSTER_EDITORS),
    ("DELETE", "/api/v1/roster/{agency}/entries/{entry_id}"): signed_in(ROSTER_EDITORS),
    ("POST", "/api/v1/roster/{agency}/swap"): signed_in(ROSTER_EDITORS),
    # --- the admin's pages (siaga/admin_web.py) ------------------------------------------------------
    ("GET", "/admin"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/pengguna"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/pengguna"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/pengguna/{user_id}/nonaktifkan"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/pengguna/{user_id}/aktifkan"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/pengguna/{user_id}/sandi"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/perangkat"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/perangkat"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/perangkat/{device_id}/nonaktifkan"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/audit"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/audit/periksa"): signed_in(ADMIN_ONLY),
    # --- the units registry and the agencies (dispatch/units_web.py) ----------------------------------
    ("GET", "/admin/unit"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/unit"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/unit/impor"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/unit/{id}"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/unit/{id}/nonaktif"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/unit/{id}/aktif"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/instansi"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/instansi/{id}"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/instansi/{id}"): signed_in(ADMIN_ONLY),
    # --- the complaint desk and the citizen's pages (complaints/web.py) ------
    ("GET", "/pengaduan"): signed_in(COMPLAINT_DESK),
    ("GET", "/pengaduan/opd"): signed_in(frozenset({OPD_OFFICER})),
    # the complaint admin pages (complaints/admin_web.py); /pengaduan/admin is their old address
    ("GET", "/pengaduan/admin"): signed_in(ADMIN_ONLY),
    ("POST", "/pengaduan/admin/kategori"): signed_in(ADMIN_ONLY),
    ("POST", "/pengaduan/admin/cuti"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/kategori"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/kategori"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/kategori.csv"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/kategori/impor"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/kategori/{id}"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/kategori/{id}"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/kategori/{id}/atribut"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/kategori/{id}/nonaktif"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/kategori/{id}/aktif"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/cuti"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/cuti"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/cuti/hapus"): signed_in(ADMIN_ONLY),
    ("GET", "/admin/open311"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/open311"): signed_in(ADMIN_ONLY),
    ("POST", "/admin/open311/{id}/nonaktif"): signed_in(ADMIN_ONLY),
    ("GET", "/pengaduan/foto/{id}"): signed_in(COMPLAINT_READERS),
    ("POST", "/pengaduan/teguran"): signed_in(frozenset({LEADER})),
    ("POST", "/pengaduan/teguran/{id}/dibaca"): signed_in(frozenset({OPD_OFFICER})),
    ("GET", "/pengaduan/{id}"): signed_in(COMPLAINT_READERS),
    ("POST", "/pengaduan/{id}/aksi"): signed_in(COMPLAINT_ACTORS),
    ("GET", "/lapor"): public("the citizen's complaint form"),
    ("POST", "/lapor"): public(
        "a citizen files a complaint without an account",
        csrf_exempt="acts as an anonymous citizen whoever sends it; a session adds no authority",
    ),
    ("GET", "/status"): public("the citizen looks up a complaint by tracking id"),
    ("GET", "/status/{tracking}"): public(
        "the public status by tracking id (no rahasia/anonim text); the reporter's view with the secret"
    ),
    ("POST", "/status/{tracking}"): public(
        "the reporter answers or accepts a follow-up with the complaint's secret (complaints/citizen.py)",
        csrf_exempt="the complaint's secret in the body is the authority, which no other site holds; "
        "a session adds none",
    ),
    ("GET", "/static/complaints/{name}"): public("the complaint pages' own JavaScript"),
    # --- the leaders' dashboard (dashboard/web.py) -----------------------------------------------
    ("GET", "/static/dashboard/{path}"): public("the dashboard's own stylesheet and script"),
    ("GET", "/dasbor"): signed_in(DASHBOARD),
    ("GET", "/dasbor/kecamatan.json"): signed_in(DASHBOARD),
    ("GET", "/dasbor/{table}.csv"): signed_in(DASHBOARD),
    ("GET", "/dasbor/rincian/kedaruratan"): signed_in(DASHBOARD),
    ("GET", "/dasbor/rincian/kedaruratan/{id}"): signed_in(DASHBOARD),
    ("GET", "/dasbor/rincian/pengaduan"): signed_in(DASHBOARD),
    ("GET", "/dasbor/rincian/disposisi"): signed_in(DASHBOARD),
    ("GET", "/dasbor/rincian/teguran"): signed_in(DASHBOARD),
    ("GET", "/dasbor/{table}.xlsx"): signed_in(DASHBOARD),
    # the kept weekly reports: an OPD officer lists and downloads their own OPD's (dashboard/report_pages.py)
    ("GET", "/dasbor/laporan"): signed_in(DASHBOARD | {OPD_OFFICER}),
    ("POST", "/dasbor/laporan"): signed_in(DASHBOARD),
    ("GET", "/dasbor/laporan/{id}.pdf"): signed_in(DASHBOARD | {OPD_OFFICER}),
    ("GET", "/dasbor/wilayah.json"): signed_in(DASHBOARD),
    ("GET", "/dasbor/grafik/{name}.svg"): signed_in(DASHBOARD),
    # --- Open311 GeoReport v2 (complaints/open311_web.py) ---------------------------------------------
    ("GET", "/open311/v2/discovery.{fmt}"): public("Open311 is an open standard API"),
    ("GET", "/open311/v2/services.{fmt}"): public("Open311 is an open standard API"),
    ("GET", "/open311/v2/services/{code}.{fmt}"): public("Open311 is an open standard API"),
    ("GET", "/open311/v2/requests.{fmt}"): public("Open311: public fields only (no reporter, no rahasia text)"),
    ("POST", "/open311/v2/requests.{fmt}"): public(
        "Open311 clients post with their api_key",
        csrf_exempt="authorised by the api_key field, never by a cookie",
    ),
    ("GET", "/open311/v2/requests/{id}.{fmt}"): public("Open311: public fields only"),
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): public("Open311 token lookup"),
    ("*", "/open311/v2/{tail}"): public(
        "answers 404 in the Open311 error format", csrf_exempt="changes nothing, for any method"
    ),
    # --- the citizen app API (gateway/app_api.py) ------------------------------------------------------
    ("POST", "/api/v1/apps/register"): public(
        "a phone registers; rate-limited per phone and per address",
        csrf_exempt="no cookie authority: the code goes to the phone",
    ),
    ("POST", "/api/v1/apps/verify"): public(
        "the phone proves its code and gets an install token",
        csrf_exempt="no cookie authority: needs the code sent to the phone",
    ),
    ("POST", "/api/v1/alerts"): public(
        "the app's alert, authorised by its install token (checked in the handler)",
        csrf_exempt="authorised by the app's bearer install token, never by a cookie",
    ),
    ("GET", "/api/v1/alerts/{incident_id}/state"): public(
        "the app follows its alert, authorised by its install token (checked in the handler)"
    ),
}
