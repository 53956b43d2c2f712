"""The HubSpot connector: CRM records read, searched and batch-written with hubspot-api-client."""

from revrules.connectors.hubspot.connector import DEFAULT_BASE_URL, HubspotConnector
from revrules.connectors.hubspot.limits import RateLimiter
from revrules.connectors.hubspot.properties import GROUP_NAME

__all__ = ["DEFAULT_BASE_URL", "GROUP_NAME", "HubspotConnector", "RateLimiter"]
