"""The leader's dashboard: figures over dispatch and complaints, charts, drill-down and reports."""
