"""Connectors: read records from a CRM and write field changes back."""
