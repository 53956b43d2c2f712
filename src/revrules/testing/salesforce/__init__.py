"""A loopback Salesforce emulator (REST, SOQL, Bulk API 2.0, OAuth) for tests and offline rehearsal.

The emulator serves the subset of the Salesforce APIs that revrules' connector uses,
with the response shapes of real recorded traffic, fault-injection switches and a
request log. Run it in-process::

    with SalesforceEmulator(records) as emulator:
        sf = Salesforce(instance_url=emulator.url, session_id=emulator.session_id,
                        session=loopback_session(emulator.url))

or from a shell: ``python -m revrules.testing.salesforce --port 8123 --accounts a.csv``.

Endpoints (``vXX.X`` is any API version):

* ``POST /services/oauth2/token`` (JWT bearer, client credentials, password) and the
  SOAP login ``POST /services/Soap/u/{version}``.
* ``GET /services/data/`` (versions), ``GET vXX.X/limits``, ``GET vXX.X/limits/recordCount``.
* ``GET vXX.X/sobjects``, ``GET vXX.X/sobjects/{obj}``, ``GET vXX.X/sobjects/{obj}/describe``,
  ``POST vXX.X/sobjects/{obj}``, ``GET|PATCH|DELETE vXX.X/sobjects/{obj}/{id}``.
* ``GET vXX.X/query?q=`` and ``vXX.X/queryAll?q=``, paging through ``vXX.X/query/{locator}-{n}``.
* ``PATCH|POST vXX.X/composite/sobjects`` (sObject Collections, at most 200 records), and
  ``DELETE vXX.X/composite/sobjects?ids=...`` for the marketing-list tables.
* Marketing-list tables beside the main object: ``Contact`` (loaded with ``contacts=``),
  ``Campaign`` and ``CampaignMember``: queried with SOQL, created with Collections POST,
  ``Campaign`` updated with Collections PATCH, ``CampaignMember`` deleted with Collections
  DELETE; ``sobjects/{Campaign|CampaignMember}/describe`` served. ``Campaign.Type``,
  ``Campaign.Status`` and ``CampaignMember.Status`` are restricted to a new org's standard
  values (``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST`` otherwise).
* Bulk API 2.0: ``vXX.X/jobs/query[/{id}[/results]]`` and
  ``vXX.X/jobs/ingest[/{id}[/batches|/successfulResults|/failedResults|/unprocessedrecords]]``.
* Control (not logged, not counted): ``POST /__emulator/faults`` (a JSON object of switches;
  ``{"reset": true}`` first restores every default), ``GET /__emulator/faults``,
  ``GET /__emulator/log`` (a list of entries), ``POST /__emulator/reset-log``,
  ``GET /__emulator/records``.

Only requests under ``/services/data/vXX.X/`` are *API calls*: they are numbered from 1
(for the ``*_on_call`` switches), counted against ``DailyApiRequests`` and need a
``Authorization: Bearer <token>`` header holding a token the emulator issued.

Fault switches (``emulator.faults``, a :class:`Faults`); the first six have the same
names on the HubSpot emulator:

* ``status_on_call``: API call number → status to answer instead: 503 answers
  ``SERVER_UNAVAILABLE``, any other status ``TOO_MANY_REQUESTS``.
* ``daily_limit_after``: after this many API calls every call answers 403
  ``REQUEST_LIMIT_EXCEEDED``.
* ``auth_failure``: the token and SOAP login endpoints refuse every login.
* ``delay_seconds``: sleep before answering each request (control endpoints excepted).
* ``retry_after``: injected 429/503 answers carry this ``Retry-After`` header.
* ``record_errors``: record id → message of a ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` that
  fails the record's writes (REST, Collections and Bulk); a set of ids uses a default message.
* ``field_errors``: record id → field → message of a ``FIELD_CUSTOM_VALIDATION_EXCEPTION``
  naming that field in ``fields``; the record's other fields land when sent without it.
* ``expire_session_on_call``: on that API call every issued token becomes invalid and the
  call answers 401 ``INVALID_SESSION_ID``.
* ``lock_rows``: record ids whose writes fail with ``UNABLE_TO_LOCK_ROW``: a set (always), or
  a dict id → number of attempts that fail before writes succeed.
* ``daily_api_max``: ``DailyApiRequests.Max`` reported by ``/limits``.
* ``daily_api_remaining``: when set, the remaining allowance is reset to this value.
* ``bulk_polls_before_complete``: Bulk 2.0 job-info reads that report ``InProgress`` first.
* ``member_errors``: contact id → message of a ``FIELD_CUSTOM_VALIDATION_EXCEPTION`` that
  fails the creation of a CampaignMember for that contact.

Request log: ``emulator.requests(method=None, path_contains=None)`` returns the logged
:class:`LoggedRequest` entries (``request_log`` all of them), ``emulator.reset_log()``
forgets them; ``emulator.calls(path_prefix, method)`` counts them by path prefix.

Modules: ``state`` (the data store), ``describe``, ``values``, ``soql``, ``records`` (writes),
``query``, ``objects``, ``campaigns``, ``bulk``, ``auth``, ``faults``, ``responses``,
``emulator`` (routing) and ``cli``.
"""

from revrules.testing.salesforce.cli import load_records_csv, main
from revrules.testing.salesforce.describe import ACCOUNT_FIELDS, describe_field
from revrules.testing.salesforce.emulator import SalesforceEmulator, _Handler, loopback_session
from revrules.testing.salesforce.faults import Faults
from revrules.testing.salesforce.state import MAX_COLLECTION_RECORDS, LoggedRequest

__all__ = [
    "ACCOUNT_FIELDS",
    "MAX_COLLECTION_RECORDS",
    "Faults",
    "LoggedRequest",
    "SalesforceEmulator",
    "_Handler",
    "describe_field",
    "load_records_csv",
    "loopback_session",
    "main",
]
