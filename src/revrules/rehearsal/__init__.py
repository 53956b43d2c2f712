"""Rehearsal: copy what a run needs from the CRM (`snapshot`), and replay a run against an emulator of it."""
