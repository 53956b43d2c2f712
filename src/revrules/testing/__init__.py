"""Loopback CRM emulators for offline rehearsal and tests."""
