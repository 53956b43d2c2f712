"""The engine: converts CRM values to types, derives, decides, routes territories and owners, fills lists."""

from revrules.engine import parsetables

# Before any module of the engine imports rule_engine, whose import would otherwise build its parser tables.
parsetables.install()
