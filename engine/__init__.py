"""The engine: converts CRM values to types, derives, decides, routes territories and owners, fills lists."""
