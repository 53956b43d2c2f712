"""Unattended runs: cron jobs, catch-up after downtime, and their status."""
