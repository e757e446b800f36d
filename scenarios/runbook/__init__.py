"""A team's DR runbook read as the drill's specification: its scenarios and their numbered steps (each with its
lines in the file), its RTO and RPO tables, its WAL archiving settings and backup commands, and every part that
was not understood, listed with its line."""
