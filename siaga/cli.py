"""The ``siaga`` command line: it builds the settings, configures logging and assembles roles."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import asyncpg

from core import labels
from core.db import migrate, open_pool
from core.settings import Settings
from firmware_sim.cli import ENV_HINT, network_reason, refuse, text_table

WIB = ZoneInfo("Asia/Jakarta")

log = logging.getLogger("siaga")


def _settings() -> Settings:
    return Settings()


def _dsn(settings: Settings) -> str:
    if not settings.database_url:
        refuse(
            "SIAGA_DATABASE_URL belum disetel: isi dengan alamat PostgreSQL SIAGA (postgresql://host:port/nama),"
            f" hanya `siaga demo` dan `siaga run` memulai basis data sendiri; {ENV_HINT}."
        )
    return settings.database_url


# What asyncpg raises when the database cannot be reached or will not let us in, and why in words;
# anything later is a real error and keeps its traceback.
_REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (asyncpg.InvalidCatalogNameError, "basis data dengan nama itu tidak ada"),
    (asyncpg.InvalidAuthorizationSpecificationError, "nama pengguna atau kata sandi ditolak"),
    (asyncpg.CannotConnectNowError, "server sedang mulai atau berhenti"),
    (asyncpg.TooManyConnectionsError, "koneksi server penuh"),
)
_UNREACHABLE = (OSError, TimeoutError, *(kind for kind, _ in _REFUSALS))


async def _migrate(dsn: str) -> list[str]:
    """Apply the migrations: the first connection, so an unreachable database is refused here
    with one line saying what to set (exit status 2) instead of a traceback."""
    try:
        return await migrate(dsn)
    except _UNREACHABLE as e:
        parts = urlsplit(dsn)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"
        why = next((text for kind, text in _REFUSALS if isinstance(e, kind)), None) or network_reason(e)
        refuse(f"Basis data {where} tidak terjangkau ({why}): periksa SIAGA_DATABASE_URL; {ENV_HINT}.")


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


# --- migrate, devices, users, reference, cells, seed ---------------------------------------------


async def _with_conn(settings: Settings, fn: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
    dsn = _dsn(settings)
    await _migrate(dsn)
    async with open_pool(dsn, min_size=1, max_size=2) as pool, pool.acquire() as conn:
        return await fn(conn)


def cmd_migrate(args: argparse.Namespace) -> None:
    applied = asyncio.run(_migrate(_dsn(_settings())))
    print(f"migrasi diterapkan: {', '.join(applied)}" if applied else "skema sudah terbaru")


async def _sync_broker_files(conn: asyncpg.Connection, settings: Settings) -> None:
    from siaga.mosquitto import BrokerFilesError, sync_broker_files

    try:
        written = await sync_broker_files(conn, settings)
    except BrokerFilesError as e:
        sys.exit(str(e))
    if written is not None:
        passwd, acl = written
        print(f"berkas broker ditulis: {passwd}, {acl} (muat ulang Mosquitto: kill -HUP)")


DEVICE_KINDS = {"button": "tombol", "app": "aplikasi", "osmand": "OsmAnd", "gt06": "GT06"}


def wib(t: datetime | None) -> str:
    """``2026-12-03 14:05 WIB``: how a person reads a stored (UTC) time; ``-`` for none."""
    return t.astimezone(WIB).strftime("%Y-%m-%d %H:%M WIB") if t is not None else "-"


def cmd_devices(args: argparse.Namespace) -> None:
    from gateway.devices import DeviceError, add_device, disable_device, list_devices

    settings = _settings()

    async def run(conn: asyncpg.Connection) -> None:
        if args.devices_cmd == "add":
            nd = await add_device(
                conn,
                args.id,
                args.name,
                description=args.desc,
                kind=args.kind,
                fixed=args.fixed,
                lat=args.lat,
                lon=args.lon,
                imei=args.imei,
            )
            print(f"perangkat {nd.device_id} terdaftar.")
            print(f"rahasia (ditampilkan sekali ini saja): {nd.secret}")
            await _sync_broker_files(conn, settings)
        elif args.devices_cmd == "list":
            rows = await list_devices(conn)
            if not rows:
                print("belum ada perangkat terdaftar")
                return
            table = [
                [
                    r["id"],
                    r["name"][:40],
                    DEVICE_KINDS.get(r["kind"], r["kind"]),
                    "ya" if r["active"] else "tidak",
                    "daring" if r["online"] else "luring",
                    wib(r["last_seen_at"]),
                ]
                for r in rows
            ]
            print(text_table(["id", "nama", "jenis", "aktif", "status", "terakhir terlihat"], table))
        elif args.devices_cmd == "disable":
            await disable_device(conn, args.id)
            print(f"perangkat {args.id} dinonaktifkan.")
            await _sync_broker_files(conn, settings)
        elif args.devices_cmd == "broker-files":
            os.environ.setdefault("SIAGA_BROKER_AUTH_DIR", args.dir)
            await _sync_broker_files(conn, settings)

    try:
        asyncio.run(_with_conn(settings, run))
    except DeviceError as e:
        sys.exit(f"gagal: {e}")


def cmd_users(args: argparse.Namespace) -> None:
    from core.auth import AuthError, create_user

    settings = _settings()
    password = args.password or os.environ.get("SIAGA_NEW_USER_PASSWORD")
    if not password:
        password = getpass.getpass("Kata sandi: ")

    async def run(conn: asyncpg.Connection) -> None:
        agency_id = None
        if args.agency:
            agency_id = await conn.fetchval("SELECT id FROM agency WHERE code = $1", args.agency)
            if agency_id is None:
                sys.exit(f"gagal: tidak ada instansi dengan kode {args.agency!r}")
        user = await create_user(conn, args.username, password, args.role, agency_id, args.name or args.username)
        print(f"pengguna {user.username} ({args.role}) dibuat.")

    try:
        asyncio.run(_with_conn(settings, run))
    except AuthError as e:
        sys.exit(f"gagal: {e}")


def cmd_reference(args: argparse.Namespace) -> None:
    from gateway.reference import cli_reference_load

    dsn = _dsn(_settings())
    asyncio.run(_migrated(dsn, cli_reference_load(dsn)))


def cmd_cells(args: argparse.Namespace) -> None:
    from gateway.cells import cli_cells_import

    dsn = _dsn(_settings())
    asyncio.run(_migrated(dsn, cli_cells_import(dsn, Path(args.file), mcc=args.mcc)))


def cmd_audit(args: argparse.Namespace) -> None:
    from core.audit import seal, verify_chain

    async def run(conn: asyncpg.Connection) -> Any:
        await seal(conn)
        return await verify_chain(conn)

    check = asyncio.run(_with_conn(_settings(), run))
    head = check.head.hex() if check.head else "-"
    if check.intact:
        print(f"rantai audit utuh: {check.checked} entri, kepala {head}")
        if check.pending:
            print(f"{check.pending} entri dari transaksi yang masih berjalan belum disegel")
        print("catat jumlah dan kepala ini di luar basis data: pemotongan ekor hanya terlihat terhadapnya")
    else:
        sys.exit(
            f"RANTAI AUDIT RUSAK di entri id {check.broken_id} (setelah {check.checked} entri utuh, kepala {head})"
        )


def cmd_retention(args: argparse.Namespace) -> None:
    """One telemetry retention pass now (the gateway role runs one every hour by itself)."""
    from gateway.retention import prune_once

    settings = _settings()
    if args.keep_days is not None:
        settings = settings.model_copy(update={"telemetry_keep_days": args.keep_days})

    async def run() -> Any:
        dsn = _dsn(settings)
        await _migrate(dsn)
        async with open_pool(dsn, max_size=2) as pool:
            return await prune_once(pool, settings)

    result = asyncio.run(run())
    if result.skipped:
        sys.exit("retensi sedang dijalankan proses lain (gateway); coba lagi nanti")
    print(
        f"{result.rows:,} baris telemetri diringkas per jam lalu dihapus ({result.batches} batch, "
        f"{result.seconds:.1f} s, {result.rows_per_s:,.0f} baris/s); {result.rollup_writes:,} tulisan ringkasan, "
        f"{result.rollups_dropped:,} ringkasan lama dihapus"
    )


def cmd_roster(args: argparse.Namespace) -> None:
    """The monthly duty roster as CSV (tanggal,shift,pengguna,siaga): import replaces the month."""
    from core.audit import Actor
    from dispatch import roster, roster_rules

    async def run(conn: asyncpg.Connection) -> None:
        agency_id = await roster.agency_id_of(conn, args.agency)
        if args.roster_cmd == "export":
            text = await roster.export_month(conn, agency_id, args.month)
            if args.file in (None, "-"):
                sys.stdout.write(text)
            else:
                await asyncio.to_thread(Path(args.file).write_text, text, encoding="utf-8")
            return
        text = await asyncio.to_thread(Path(args.file).read_text, encoding="utf-8-sig")
        actor = Actor(username=f"cli:{getpass.getuser()}")
        n = await roster.import_month(conn, actor, agency_id, args.month, text)
        print(f"{n} jadwal piket diimpor untuk bulan {args.month}")

    try:
        asyncio.run(_with_conn(_settings(), run))
    except roster_rules.RosterError as e:
        sys.exit("\n".join([str(e), *e.errors]))
    except (OSError, UnicodeDecodeError) as e:
        sys.exit(f"berkas tidak terbaca: {e}")


def cmd_open311(args: argparse.Namespace) -> None:
    from complaints.store import create_open311_client

    async def run(conn: asyncpg.Connection) -> None:
        client_id, key = await create_open311_client(conn, args.name)
        print(f"klien Open311 {args.name!r} (id {client_id}) dibuat.")
        print(f"api_key (ditampilkan sekali ini saja): {key}")

    asyncio.run(_with_conn(_settings(), run))


def cmd_units(args: argparse.Namespace) -> None:
    """The units an agency dispatches: list, add, disable, import a CSV (agency_code,name,kind)."""
    from core import audit, labels
    from dispatch import units

    actor = audit.Actor(username=f"cli:{getpass.getuser()}", role="admin")
    text = ""
    if args.units_cmd == "import":
        try:
            text = Path(args.file).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            refuse(f"berkas tidak terbaca: {e}")

    async def agency(conn: asyncpg.Connection, code: str) -> asyncpg.Record:
        found = await units.agency_by_code(conn, code)
        if found is None:
            refuse(f"tidak ada instansi dengan kode {code!r}")
        return found

    async def run(conn: asyncpg.Connection) -> None:
        if args.units_cmd == "list":
            agency_id = (await agency(conn, args.agency))["id"] if args.agency else None
            rows = await units.list_units(conn, agency_id)
            if not rows:
                print("belum ada unit (tambah dengan: siaga units add KODE_INSTANSI NAMA)")
                return
            table = [
                [
                    str(r["id"]),
                    r["agency_code"],
                    r["name"][:40],
                    labels.label("unit_kind", r["kind"]),
                    "ya" if r["active"] else "tidak",
                ]
                for r in rows
            ]
            print(text_table(["id", "instansi", "nama", "jenis", "aktif"], table, right=[0]))
        elif args.units_cmd == "add":
            found = await agency(conn, args.agency)
            unit_id = await units.add_unit(conn, actor, found["id"], args.name, args.kind)
            print(f"unit {args.name!r} (id {unit_id}) ditambahkan ke {found['name']}.")
        elif args.units_cmd == "disable":
            if not 1 <= args.id < 2**63:
                refuse(f"tidak ada unit dengan id {args.id}")
            unit = await units.get_unit(conn, args.id)
            changed = await units.set_active(conn, actor, args.id, False)
            print(f"unit {unit['name']!r} dinonaktifkan." if changed else f"unit {unit['name']!r} sudah nonaktif.")
        elif args.units_cmd == "import":
            summary = await units.import_units(conn, actor, units.parse_units_csv(text))
            print(f"Unit diimpor: {summary.summary()}")

    try:
        asyncio.run(_with_conn(_settings(), run))
    except units.UnitError as e:
        refuse(f"gagal: {e.message}")


def cmd_categories(args: argparse.Namespace) -> None:
    """Complaint categories (the Open311 services): load the CSV, list, export it back, attributes."""
    import orjson

    from complaints import categories, store
    from complaints.model import Actor, InvalidAction
    from core.roles import Role

    actor = Actor(Role.ADMIN, name=f"cli:{getpass.getuser()}")
    attributes: Any = None
    try:
        if args.categories_cmd == "load":
            text = Path(args.file).read_text(encoding="utf-8") if args.file else categories.shipped_text()
            rows = categories.parse_categories_csv(text)
        elif args.categories_cmd == "set-attributes":
            attributes = orjson.loads(Path(args.file).read_bytes())
    except (OSError, UnicodeDecodeError) as e:
        refuse(f"berkas tidak terbaca: {e}")
    except orjson.JSONDecodeError as e:
        refuse(f"{args.file} bukan JSON yang sah: {e}")
    except categories.CategoryCsvError as e:
        refuse(f"Kategori tidak dimuat, {args.file or categories.SHIPPED_FILE} {e}")

    async def by_code(conn: asyncpg.Connection) -> asyncpg.Record:
        cat = await store.category_by_code(conn, args.code)
        if cat is None:
            refuse(f"tidak ada kategori dengan kode {args.code!r} (lihat: siaga categories list)")
        return cat

    async def run(conn: asyncpg.Connection) -> None:
        if args.categories_cmd == "load":
            try:
                summary = await categories.load_categories(conn, actor, rows, replace=args.replace)
            except categories.CategoryCsvError as e:
                refuse(f"Kategori tidak dimuat, {args.file or categories.SHIPPED_FILE} {e}")
            print(f"Kategori pengaduan dimuat: {summary.summary()}")
        elif args.categories_cmd == "list":
            cats = await categories.overview(conn)
            if not cats:
                print("belum ada kategori (muat dengan: siaga categories load)")
                return
            table = [
                [
                    c["code"],
                    c["name"][:48],
                    c["group_name"] or "-",
                    c["opd"],
                    str(c["n_attributes"]),
                    "ya" if c["active"] else "tidak",
                ]
                for c in cats
            ]
            print(text_table(["kode", "nama", "kelompok", "OPD", "atribut", "aktif"], table, right=[4]))
        elif args.categories_cmd == "export":
            sys.stdout.write(categories.to_csv(await categories.export_rows(conn)))
        elif args.categories_cmd == "attributes":
            cat = await by_code(conn)
            print(orjson.dumps(cat["attributes"], option=orjson.OPT_INDENT_2).decode())
        elif args.categories_cmd == "set-attributes":
            cat = await by_code(conn)
            try:
                await store.set_category_attributes(conn, actor, cat["id"], attributes)
            except InvalidAction as e:
                refuse(f"Atribut tidak disimpan: {e.message}")
            print(f"atribut kategori {args.code} disimpan ({len(attributes)} atribut).")

    asyncio.run(_with_conn(_settings(), run))


def cmd_seed(args: argparse.Namespace) -> None:
    from complaints.synthetic import cli_seed_synthetic

    if not args.synthetic:
        sys.exit("only synthetic data can be seeded: pass --synthetic")
    dsn = _dsn(_settings())
    asyncio.run(_migrated(dsn, cli_seed_synthetic(dsn, args.complaints, args.incidents)))


async def _migrated(dsn: str, coro: Coroutine[Any, Any, None]) -> None:
    try:
        await _migrate(dsn)
    except SystemExit:
        coro.close()  # it never runs, and is not to be reported as never awaited
        raise
    await coro


# --- run, demo, sim -----------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> None:
    from siaga.roles import ROLES, run_roles

    roles = set(ROLES) if args.role == "all" else {args.role}

    async def main() -> None:
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await run_roles(_settings(), roles, stop)

    asyncio.run(main())


DEMO_USERS = (
    # username, role, agency (a code, or "kind:<kind>" for the one agency of that kind; None: not bound), full name
    ("admin", "admin", None, "Admin Pusat Kendali"),
    ("pusat", "command_centre", "kind:command_centre", "Operator Pusat Kendali"),
    ("polres", "operator", "polres-wonosobo", "Operator Polres Wonosobo"),
    ("dishub", "operator", "dishub", "Operator Dishub (Disperkimhub)"),
    ("supervisor", "supervisor", "polres-wonosobo", "Supervisor Piket Polres"),
    ("verifikator", "complaint_staff", None, "Verifikator Pengaduan"),
    ("opd", "opd_officer", "opd-disperkimhub", "Petugas OPD Disperkimhub"),
    ("bupati", "leader", None, "Bupati Wonosobo"),
)



def demo_env_lines(settings: Settings) -> list[str]:
    """Shell lines that point the ``siaga`` CLI at the demo's embedded database and broker."""
    import shlex

    values = {"SIAGA_DATABASE_URL": settings.database_url, "SIAGA_MQTT_URL": settings.mqtt_url}
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items() if value]


# The demo's buttons sit at the same install points on every run, so their Polsek logins stay put.
DEMO_HOMES_SEED = "siaga-demo"


def demo_homes(n: int) -> list[tuple[float, float]]:
    """Install points (lat, lon) of the demo's ``n`` buttons, the same on every run."""
    import random

    from firmware_sim.fleet import homes_in_wonosobo

    return homes_in_wonosobo(n, random.Random(DEMO_HOMES_SEED))


async def _demo_agency_id(conn: asyncpg.Connection, agency: str) -> int | None:
    if agency.startswith("kind:"):
        return await conn.fetchval(
            "SELECT id FROM agency WHERE kind = $1 ORDER BY active DESC, id LIMIT 1", agency.removeprefix("kind:")
        )
    return await conn.fetchval("SELECT id FROM agency WHERE code = $1", agency)


async def _demo_polsek_users(
    conn: asyncpg.Connection, homes: list[tuple[float, float]]
) -> list[tuple[str, str, str, str]]:
    """An operator login for each Polsek whose area holds a demo button, so an alert routed there
    shows at once on a signed-in console instead of waiting for escalation to the Polres."""
    from core.areas import AreaIndex
    from gateway.reference import load_jurisdiction

    areas = await asyncio.to_thread(AreaIndex.load)
    jurisdiction = await load_jurisdiction(conn)
    polsek_ids = {jurisdiction.polsek.get(areas.lookup(lat, lon).kecamatan_code or "") for lat, lon in homes}
    rows = await conn.fetch(
        "SELECT code, name FROM agency WHERE id = ANY($1::bigint[]) AND kind = 'polsek' ORDER BY code",
        [i for i in polsek_ids if i is not None],
    )
    return [(r["code"], "operator", r["code"], f"Operator {r['name']}") for r in rows]


async def _demo_setup(
    settings: Settings, pool: asyncpg.Pool, homes: list[tuple[float, float]]
) -> tuple[dict[str, str], list, list[tuple[str, str, str, str]]]:
    """Reference data, demo logins and one simulated device per home; secrets are kept under
    data_dir so a re-run shows the same logins (the database holds only their hashes)."""
    from complaints import categories
    from complaints.model import Actor
    from core.auth import create_user
    from core.roles import Role
    from gateway.devices import add_device
    from gateway.reference import load_reference

    await load_reference(pool)
    # the shipped categories, so the complaint form and Open311's services.json have content
    async with pool.acquire() as conn:
        await categories.load_categories(
            conn, Actor(Role.SYSTEM, name="siaga demo"), categories.parse_categories_csv(categories.shipped_text())
        )
    data = Path(settings.data_dir)
    data.mkdir(parents=True, exist_ok=True)
    logins_file = data / "demo-logins.json"
    devices_file = data / "demo-devices.json"
    logins: dict[str, str] = json.loads(logins_file.read_text()) if logins_file.exists() else {}
    devices: dict[str, str] = json.loads(devices_file.read_text()) if devices_file.exists() else {}
    async with pool.acquire() as conn:
        users = [*DEMO_USERS, *await _demo_polsek_users(conn, homes)]
        for username, role, agency, name in users:
            if await conn.fetchval("SELECT true FROM app_user WHERE username = $1", username):
                continue
            agency_id = await _demo_agency_id(conn, agency) if agency else None
            if agency and agency_id is None:
                agency_id = await conn.fetchval(
                    "SELECT id FROM agency WHERE kind = 'opd' AND name ILIKE '%perhubungan%' LIMIT 1"
                )
            logins[username] = secrets.token_urlsafe(9)
            await create_user(conn, username, logins[username], role, agency_id, name)
        for i in range(len(homes)):
            device_id = f"demo-btn-{i + 1:03d}"
            if device_id in devices:
                continue
            if await conn.fetchval("SELECT true FROM device WHERE id = $1", device_id):
                continue  # registered earlier but its secret is lost: leave it, it is not simulated
            nd = await add_device(conn, device_id, f"Tombol panik demo {i + 1}", description="simulasi")
            devices[device_id] = nd.secret
        await _demo_roster(conn)
        await _demo_units(conn, ["polres-wonosobo", *(u[2] for u in users if u[1] == "operator" and u[2])])
    logins_file.write_text(json.dumps(logins, indent=1))
    os.chmod(logins_file, 0o600)
    devices_file.write_text(json.dumps(devices, indent=1))
    os.chmod(devices_file, 0o600)
    return logins, sorted(devices.items()), users


async def _demo_units(conn: asyncpg.Connection, agency_codes: list[str]) -> None:
    """Patrol cars and a motorbike for the Polres and each demo Polsek, so the console's dispatch
    form has units to choose; an agency that has units already is left as it is."""
    from core import audit
    from dispatch import units

    for code in dict.fromkeys(agency_codes):
        found = await units.agency_by_code(conn, code)
        if found is None or found["kind"] not in ("polres", "polsek") or await units.list_units(conn, found["id"]):
            continue
        for name, kind in (("Patroli 1", "mobil"), ("Patroli 2", "mobil"), ("Motor 1", "motor")):
            await units.add_unit(conn, audit.SYSTEM, found["id"], name, kind)


async def _demo_roster(conn: asyncpg.Connection) -> None:
    """Three 8-hour shifts (WIB) for the demo's Polres and Dishub, their operator on today's and
    tomorrow's, so the roster page has content and presence-aware routing is on for them."""
    from datetime import datetime, timedelta

    from core import audit
    from dispatch import roster, roster_rules

    today = datetime.now(roster_rules.WIB).date()
    for agency_code, username in (("polres-wonosobo", "polres"), ("dishub", "dishub")):
        agency_id = await conn.fetchval("SELECT id FROM agency WHERE code = $1", agency_code)
        if agency_id is None or await roster.shifts(conn, agency_id):
            continue
        for code, name, starts in (("P", "Pagi", "07:00"), ("S", "Siang", "15:00"), ("M", "Malam", "23:00")):
            await roster.save_shift(conn, audit.SYSTEM, agency_id, roster_rules.make_shift(code, name, starts, 8))
            for day in (today, today + timedelta(days=1)):
                await roster.assign(conn, audit.SYSTEM, agency_id, code, day, username, on_call=False)


def cmd_demo(args: argparse.Namespace) -> None:
    from firmware_sim.device import SimConfig
    from firmware_sim.fleet import Fleet
    from siaga.procs import free_port
    from siaga.roles import ROLES, port_free, run_roles

    settings = _settings()
    if args.port:
        settings = settings.model_copy(update={"http_port": args.port})
    if not port_free(settings.http_port, settings.http_host):
        sys.exit(f"port {settings.http_port} is taken: choose another with --port or SIAGA_HTTP_PORT")
    # the demo's tracker ports move aside when something already listens on them
    for name in ("osmand_port", "gt06_port"):
        if not port_free(getattr(settings, name), settings.tracker_host):
            settings = settings.model_copy(update={name: free_port()})

    async def on_ready(settings: Settings, pool: asyncpg.Pool) -> None:
        logins, creds, users = await _demo_setup(settings, pool, demo_homes(args.devices))
        # devices kept from an earlier, larger demo keep their place: the seeded points extend as a prefix
        numbers = [int(device_id.rsplit("-", 1)[1]) for device_id, _ in creds]
        homes = demo_homes(max(numbers, default=0))
        agency_of = dict(
            await pool.fetch(
                """SELECT u.username, coalesce(g.name, '-') FROM app_user u
                     LEFT JOIN agency g ON g.id = u.agency_id WHERE u.username = ANY($1::text[])""",
                [u[0] for u in users],
            )
        )
        url = f"http://{settings.http_host}:{settings.http_port}/"
        print("\n=== SIAGA demo berjalan ===", flush=True)
        print(f"Buka konsol: {url}console   (pengaduan: {url}pengaduan, dasbor: {url}dasbor, lapor: {url}lapor)")
        print(
            f"Pelacak: OsmAnd http://{settings.tracker_host}:{settings.osmand_port}/  GT06 tcp {settings.gt06_port};"
            f" MQTT {settings.mqtt.host}:{settings.mqtt.port}"
        )
        print("Login demo (kata sandi disimpan di var/demo-logins.json):")
        width = max((len(name) for name in agency_of.values()), default=8)
        print(f"  {'pengguna':<24} {'peran':<22} {'instansi':<{width}} kata sandi")
        for username, role, _, _ in users:
            if username in logins:
                label = labels.label("role", role)
                print(f"  {username:<24} {label:<22} {agency_of.get(username, '-'):<{width}} {logins[username]}")
        print("Arahkan CLI `siaga` ke basis data dan broker demo ini dari shell lain:")
        for line in demo_env_lines(settings):
            print(f"  {line}")
        pace = f"satu tekanan tiap ~{1 / args.press_rate:.0f} s" if args.press_rate > 0 else "tanpa tekanan otomatis"
        print(
            f"{len(creds)} tombol panik simulasi, {pace}; tekan satu sekarang: kill -USR1 {os.getpid()}."
            " Ctrl-C untuk berhenti.\n",
            flush=True,
        )
        target = settings.mqtt
        config = SimConfig(host=target.host, port=target.port, topic_root=settings.topic_root, heartbeat_s=60.0)
        fleet = Fleet(
            creds,
            config,
            state_dir=Path(settings.data_dir) / "sim",
            press_rate=args.press_rate,
            homes=[homes[n - 1] for n in numbers],
        )
        (Path(settings.data_dir) / "sim").mkdir(exist_ok=True)

        def press_on_signal() -> None:
            # one press when asked, so a person (or a test) can time it from press to console
            pressed = fleet.press_one()
            if pressed is None:
                print("Belum ada tombol simulasi yang terhubung; coba lagi sebentar lagi.", flush=True)
            else:
                print(f"Tombol {pressed[0].device_id} ditekan (urutan {pressed[1]}).", flush=True)

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGUSR1, press_on_signal)
        try:
            await fleet.run(stop, progress=sys.stderr)
        finally:
            loop.remove_signal_handler(signal.SIGUSR1)

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        _stop_on_signals(stop)
        await run_roles(settings, set(ROLES), stop, on_ready=on_ready)

    stop = asyncio.Event()
    asyncio.run(main())


def cmd_sim(args: argparse.Namespace) -> None:
    """Simulated buttons against a running SIAGA: registers devices it has no secret for."""
    from firmware_sim import cli as sim_cli
    from gateway.devices import add_device

    settings = _settings()
    dsn = _dsn(settings)
    sim_cli.broker_target(settings)  # both addresses are checked before anything starts

    async def register(device_ids: list[str]) -> dict[str, str]:
        await _migrate(dsn)
        secrets_by_id: dict[str, str] = {}
        async with open_pool(dsn, min_size=1, max_size=2) as pool, pool.acquire() as conn:
            for device_id in device_ids:
                # the device's number in the fleet, as its name has always said
                n = int(device_id.rsplit("-", 1)[1])
                nd = await add_device(conn, device_id, f"Tombol simulasi {n}", description="simulasi")
                secrets_by_id[device_id] = nd.secret
            await _sync_broker_files(conn, settings)
        return secrets_by_id

    totals = sim_cli.run(args, settings, register)
    print(sim_cli.format_totals(totals))


def cmd_bench(args: argparse.Namespace) -> None:
    from bench.scale import SCENARIOS

    if args.what in SCENARIOS:
        from bench.scale import main as scale_main

        scale_main(args.what, args.devices, args.seconds, args.ramp, args.json)
        return
    from bench.gateway import main as bench_main

    bench_main(args)


# --- parser -------------------------------------------------------------------------------------


def _one_verb(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    helptext: str,
    fn: Callable[[argparse.Namespace], None],
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """Command ``name`` run by ``fn``, its verb in ``args.<name>_cmd``; add the verbs to what it returns."""
    group = sub.add_parser(name, help=helptext)
    group.set_defaults(fn=fn)
    return group.add_subparsers(dest=f"{name}_cmd", required=True)


def build_parser() -> argparse.ArgumentParser:
    from firmware_sim import cli as sim_cli

    p = argparse.ArgumentParser(prog="siaga", description="SIAGA: pusat kendali darurat dan pengaduan")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="cmd", required=True)

    demo = sub.add_parser("demo", help="everything in one process: embedded services, simulated buttons")
    demo.add_argument("--devices", type=int, default=20)
    demo.add_argument(
        "--press-rate", type=float, default=0.05, help="button presses per second, whole fleet (0: only on SIGUSR1)"
    )
    demo.add_argument("--port", type=int, default=None, help="HTTP port (default SIAGA_HTTP_PORT or 8080)")
    demo.set_defaults(fn=cmd_demo)

    run = sub.add_parser("run", help="run SIAGA roles")
    run.add_argument("--role", choices=["all", "gateway", "telemetry", "dispatch", "web"], default="all")
    run.set_defaults(fn=cmd_run)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)

    dev = sub.add_parser("devices", help="device registry")
    dsub = dev.add_subparsers(dest="devices_cmd", required=True)
    add = dsub.add_parser("add", help="register a device; prints its secret once")
    add.add_argument("--id", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--desc", default=None)
    add.add_argument("--kind", default="button", choices=["button", "app", "osmand", "gt06"])
    add.add_argument("--fixed", action="store_true", help="a fixed button: give its install location")
    add.add_argument("--lat", type=float)
    add.add_argument("--lon", type=float)
    add.add_argument("--imei", default=None, help="GT06 trackers: the IMEI they log in with")
    dsub.add_parser("list", help="list devices")
    dis = dsub.add_parser("disable", help="disable a device (the broker refuses it after reload)")
    dis.add_argument("id")
    bf = dsub.add_parser("broker-files", help="write Mosquitto's passwd and acl from the registry")
    bf.add_argument("--dir", required=True)
    dev.set_defaults(fn=cmd_devices)

    users = sub.add_parser("users", help="operator and staff accounts")
    usub = users.add_subparsers(dest="users_cmd", required=True)
    uadd = usub.add_parser("add", help="add a user")
    uadd.add_argument("--username", required=True)
    uadd.add_argument("--role", required=True)
    uadd.add_argument("--agency", default=None, help="agency code (operators, OPD officers)")
    uadd.add_argument("--name", default=None)
    uadd.add_argument("--password", default=None, help="default: SIAGA_NEW_USER_PASSWORD or a prompt")
    users.set_defaults(fn=cmd_users)

    reference = _one_verb(sub, "reference", "reference data", cmd_reference)
    reference.add_parser("load", help="load Wonosobo seed data (police units, OPDs, Dishub posts)")

    cells = _one_verb(sub, "cells", "cell tower database", cmd_cells)
    cimp = cells.add_parser("import", help="import an OpenCelliD-format CSV (streamed)")
    cimp.add_argument("file")
    cimp.add_argument("--mcc", type=int, default=None, help="keep only this country code (Indonesia: 510)")

    audit = _one_verb(sub, "audit", "the tamper-evident audit log", cmd_audit)
    audit.add_parser("verify", help="walk the hash chain; exit 1 at the first edited or missing entry")

    retention = _one_verb(sub, "retention", "telemetry retention (roll up and delete old readings)", cmd_retention)
    rrun = retention.add_parser("run", help="one pass now, in batches; the gateway role runs one every hour")
    rrun.add_argument("--keep-days", type=float, default=None, help="override SIAGA_TELEMETRY_KEEP_DAYS")

    rost = sub.add_parser("roster", help="duty roster (piket) of an agency, monthly CSV")
    rosub = rost.add_subparsers(dest="roster_cmd", required=True)
    for name, helptext in (("import", "replace a month's roster from CSV"), ("export", "a month's roster as CSV")):
        rp = rosub.add_parser(name, help=helptext)
        rp.add_argument("file", nargs=None if name == "import" else "?", help="CSV file ('-' or none: stdout)")
        rp.add_argument("--agency", required=True, help="agency code or id")
        rp.add_argument("--month", required=True, help="YYYY-MM (WIB)")
    rost.set_defaults(fn=cmd_roster)

    open311 = _one_verb(sub, "open311", "Open311 GeoReport v2 clients", cmd_open311)
    oadd = open311.add_parser("add-client", help="issue an API key for POST requests; printed once, stored hashed")
    oadd.add_argument("name")

    unit = _one_verb(sub, "units", "unit instansi yang dikirim ke insiden (mobil, motor, pos)", cmd_units)
    ulist = unit.add_parser("list", help="daftar unit")
    ulist.add_argument("--agency", default=None, help="kode instansi")
    unadd = unit.add_parser("add", help="tambah unit ke instansi")
    unadd.add_argument("agency", metavar="AGENCY_CODE")
    unadd.add_argument("name")
    unadd.add_argument("--kind", default="unit", help="mobil, motor, pos atau unit")
    udis = unit.add_parser("disable", help="nonaktifkan unit (tidak lagi ditawarkan saat pengiriman)")
    udis.add_argument("id", type=int)
    uimp = unit.add_parser("import", help="impor unit dari CSV agency_code,name,kind (yang sudah ada diperbarui)")
    uimp.add_argument("file")

    cats = _one_verb(sub, "categories", "kategori pengaduan (layanan Open311)", cmd_categories)
    cload = cats.add_parser("load", help="muat kategori dari CSV (bawaan: core/data/wonosobo/kategori_pengaduan.csv)")
    cload.add_argument("file", nargs="?", default=None)
    cload.add_argument("--replace", action="store_true", help="timpa juga kategori yang sudah diubah admin")
    cats.add_parser("list", help="daftar kategori")
    cats.add_parser("export", help="kategori sebagai CSV ke stdout, bentuk yang sama untuk dimuat lagi")
    cattr = cats.add_parser("attributes", help="atribut Open311 sebuah kategori (JSON)")
    cattr.add_argument("code")
    cset = cats.add_parser("set-attributes", help="ganti atribut Open311 sebuah kategori dari berkas JSON")
    cset.add_argument("code")
    cset.add_argument("file")

    seed = sub.add_parser("seed", help="seed synthetic data for benchmarks")
    seed.add_argument("--synthetic", action="store_true")
    seed.add_argument("--complaints", type=int, default=1_000_000)
    seed.add_argument("--incidents", type=int, default=200_000)
    seed.set_defaults(fn=cmd_seed)

    sim = sub.add_parser("sim", help="simulated panic buttons against a running SIAGA")
    sim_cli.add_arguments(sim)
    sim.set_defaults(fn=cmd_sim)

    bench = sub.add_parser("bench", help="benchmarks with a raw baseline in the same run")
    bench.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=[
            "all",
            "gateway",
            "geo",
            "ingress",
            "dashboard",
            "retention",
            "steady",
            "burst",
            "flood",
            "share",
            "scale",
        ],
        help="steady|burst|flood|share|scale: the regency-size scenarios (scale = all four); "
        "retention: telemetry disk cost and pruning (--devices = rows, default 1,000,000)",
    )
    bench.add_argument("--seconds", type=float, default=10.0, help="length of each measured phase")
    bench.add_argument("--json", default=None, help="also write the results here (scenarios: var/bench/...)")
    bench.add_argument("--devices", type=int, default=None, help="simulated buttons (steady 10,000, burst 2,000)")
    bench.add_argument("--ramp", type=float, default=500.0, help="new button connections per second")
    bench.add_argument("--runs", type=int, default=20, help="dashboard: timed requests per route and query")
    bench.add_argument(
        "--layout", choices=["one", "split"], default="one", help="SIAGA as one process, or one per role"
    )
    bench.set_defaults(fn=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # libraries that log every connection or state change at INFO
    for noisy in ("amqtt", "transitions", "pgserver", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args.fn(args)


if __name__ == "__main__":
    main()
