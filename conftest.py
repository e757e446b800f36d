"""Loads pgdrill's pytest plugins: the drill world (fixtures) and the reports."""

pytest_plugins = ["fixtures.plugin", "reports.plugin"]
