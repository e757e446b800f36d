"""The runbook as code: scenarios made of named steps, the verification checklist, RTO/RPO targets."""
