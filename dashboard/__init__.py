"""The leader's dashboard: figures over dispatch and complaints, charts, drill-down and reports."""

from core.roles import Role

# who may read the dashboard's pages, lists, files and reports (an OPD officer: their own reports)
READERS = (Role.LEADER, Role.ADMIN)
