"""pgdrill's plugin is installed as the pytest11 entry point `pgdrill` (pgdrill.fixtures.plugin, which
loads the reports plugin too); this file only marks the project's root for pytest."""
