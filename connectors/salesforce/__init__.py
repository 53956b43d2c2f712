"""The Salesforce connector: SOQL and Bulk 2.0 reads, sObject Collections and Bulk 2.0 writes, Campaigns as lists.

Every call goes through simple-salesforce and through one retry boundary
(`session.SalesforceSession.call`) that re-authenticates on `INVALID_SESSION_ID`, backs
off on 429/502/503/504 and connection errors, and stops on `REQUEST_LIMIT_EXCEEDED`.
Bulk API 2.0 jobs are driven one step at a time so that a re-login in the middle of a
job resumes the job instead of uploading it again.
"""

from revrules.connectors.salesforce.campaigns import MEMBER_MARKER, REMEMBERED_PREFIX, CampaignSettings
from revrules.connectors.salesforce.connector import SalesforceConnector
from revrules.connectors.salesforce.session import Auth, Credentials, Tuning, http_session
from revrules.connectors.salesforce.soql import soql_string
from revrules.connectors.salesforce.values import FieldInfo

_soql_string = soql_string
"""The name the campaign tests import."""

__all__ = [
    "MEMBER_MARKER",
    "REMEMBERED_PREFIX",
    "Auth",
    "CampaignSettings",
    "Credentials",
    "FieldInfo",
    "SalesforceConnector",
    "Tuning",
    "_soql_string",
    "http_session",
    "soql_string",
]
