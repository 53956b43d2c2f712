"""The engine: converts CRM values, evaluates rulebooks and computes plans."""

from revrules.engine import parsetables

# Before any module of the engine imports rule_engine, whose import would otherwise build its parser tables.
parsetables.install()
