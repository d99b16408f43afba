"""The complaint pipeline (SP4N-LAPOR! practice) with its working-day SLA.

Pure: ``clock`` (working days in WIB, holidays, cuti bersama, pauses, colours), ``model`` (kinds,
states, who may do which transition), ``open311`` (GeoReport v2 parsing and serialising).
I/O: ``store`` (SQL of migration 0004: complaints, history, dispositions, sweep, teguran),
``web`` / ``open311_web`` / ``dashboard`` (aiohttp; ``web.setup(app)`` mounts everything),
``runner`` (the SLA sweeper task), ``synthetic`` (seed for the dashboard benchmark in ``bench.dashboard``).
Never imports the gateway; meets dispatch in the database.
"""
