"""The engine: converts CRM values, evaluates rulebooks and computes plans."""
