"""Salesforce auth and transport: credentials, the HTTP session, login, and the retry boundary of every call."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce

# The step-by-step Bulk API 2.0 client: the public update() uploads, closes and polls every
# job in one call, so a retry or re-login half-way would resend finished jobs (see bulk.py).
from simple_salesforce.bulk2 import _Bulk2Client
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceOperationError,
)
from simple_salesforce.login import SalesforceLogin
from urllib3.exceptions import NewConnectionError

from revrules.connectors.retry import Retry, RetryPolicy
from revrules.connectors.salesforce.errors import (
    LIMIT_EXCEEDED,
    RETRIED_STATUSES,
    error_parts,
    error_text,
    is_concurrency_limit,
)
from revrules.errors import (
    ApiBudgetExhaustedError,
    CrmError,
    InvalidInputError,
    WriteOutcomeUnknownError,
)

if TYPE_CHECKING:
    from revrules.connectors.salesforce.currency import Rates
    from revrules.connectors.salesforce.values import FieldInfo

log = logging.getLogger(__name__)

T = TypeVar("T")
Auth = Literal["jwt", "client_credentials", "password", "session"]

MAX_RELOGINS = 2
"""Logins tried in a row when the CRM keeps answering `INVALID_SESSION_ID`."""
MAX_BACKOFF_SECONDS = 60.0
RETIRING_FLOW_WARNING = (
    "auth password uses the OAuth username-password flow, which Salesforce is deprecating and "
    "blocks by default in new orgs (SOAP login() is unavailable from API 65.0 and retired in "
    "Summer '27); switch to auth jwt or client_credentials (see the README)"
)
DUPLICATE_RULE_HEADER = "Sforce-Duplicate-Rule-Header"


@dataclass(frozen=True)
class Credentials:
    """How to log in; secrets are held only here and only for the login call."""

    auth: Auth
    domain: str = "login"
    instance_url: str | None = None
    username: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    private_key_file: Path | None = None
    password: str | None = None
    security_token: str | None = None
    session_id: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(auth={self.auth!r}, domain={self.domain!r})"


@dataclass(frozen=True)
class Tuning:
    """Thresholds, retry bounds and write options (the `crm:` keys of the same names)."""

    bulk_read_threshold: int = 10_000
    bulk_write_threshold: int = 2_000
    bulk_upload_bytes: int = 100_000_000
    """The largest Bulk API 2.0 upload sent: the guide's 100 MB, which stays under 150 MB once base64-encoded."""
    duplicate_rules: Literal["allow_save", "enforce"] = "allow_save"
    currency: Literal["corporate", "record"] = "corporate"
    api_reserve: int = 1_000
    max_retries: int = 5
    retry_backoff_seconds: float = 1.0
    timeout_seconds: float = 120.0


class _HttpAdapter(HTTPAdapter):
    """Gives every request a timeout and, for a loopback rehearsal, keeps traffic on loopback.

    simple-salesforce always builds `https://` URLs. When the configured instance is an
    `http://127.0.0.1:PORT` (or localhost) server, this adapter sends its `https://`
    URLs there as plain HTTP, sends the `https://*.salesforce.com` login endpoints to the
    same server (in a rehearsal the loopback server is the login server too), and refuses
    every other host, so a rehearsal config can never reach a real org.
    """

    def __init__(self, timeout: float, loopback: str | None = None) -> None:
        super().__init__()
        self._timeout = timeout
        self._loopback = loopback

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        if self._loopback is None:
            return super().send(request, *args, **kwargs)
        parts = urlsplit(request.url or "")
        host = (parts.hostname or "").lower()
        if parts.netloc != self._loopback and not host.endswith(".salesforce.com"):
            raise requests.ConnectionError(
                f"a loopback instance_url only reaches {self._loopback}, not {host}",
                request=request,
            )
        routed = request.copy()
        routed.url = urlunsplit(("http", self._loopback, parts.path, parts.query, ""))
        return super().send(routed, *args, **kwargs)


def http_session(instance_url: str | None, timeout: float) -> requests.Session:
    """A requests session with timeouts, routed to plain HTTP for a loopback instance_url."""
    session = requests.Session()
    loopback = None
    if instance_url is not None:
        parts = urlsplit(instance_url)
        if parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost"):
            loopback = parts.netloc
    session.mount("https://", _HttpAdapter(timeout, loopback))
    session.mount("http://", _HttpAdapter(timeout))
    return session


class _RetryAfter:
    """The `Retry-After` of the latest answer on a session.

    simple-salesforce's errors carry no headers, so a requests response hook (public
    API) keeps the header for the retry policy to read.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def hook(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self._local.value = response.headers.get("Retry-After")

    def take(self) -> str | None:
        value: str | None = getattr(self._local, "value", None)
        self._local.value = None
        return value


def _not_sent(error: requests.RequestException) -> bool:
    """Whether a request failed before any of it reached the server (so sending it again is safe)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(error, requests.ConnectionError) and isinstance(reason, NewConnectionError)


def missing_keys(c: Credentials) -> list[str]:
    """The config keys the chosen `auth` needs but does not have."""
    needed: dict[str, object] = {}
    if c.auth == "session":
        needed = {"instance_url": c.instance_url, "session_id": c.session_id}
    elif c.auth == "jwt":
        needed = {"username": c.username, "consumer_key": c.consumer_key,
                  "private_key_file": c.private_key_file}
    elif c.auth == "client_credentials":
        needed = {"consumer_key": c.consumer_key, "consumer_secret": c.consumer_secret}
        if my_domain(c) is None:
            needed["instance_url (your My Domain, e.g. https://acme.my.salesforce.com)"] = None
    else:
        # The OAuth username-password flow: a connected app's key and secret are required.
        needed = {"username": c.username, "password": c.password,
                  "consumer_key": c.consumer_key, "consumer_secret": c.consumer_secret}
    return [key for key, value in needed.items() if value in (None, "")]


def credential_problems(c: Credentials) -> list[str]:
    """Settings that cannot log in as configured, each with where the value belongs."""
    if c.auth == "jwt" and c.domain not in ("login", "test"):
        return [
            f"crm.domain: {c.domain!r} is a My Domain, but with auth jwt `domain` is the token "
            "audience: `login` (production) or `test` (sandbox); put your My Domain in "
            f"crm.instance_url (https://{c.domain}.salesforce.com)"
        ]
    return []


def my_domain(c: Credentials) -> str | None:
    """The My Domain login host prefix (`acme.my`): from `domain`, else from an https `instance_url`."""
    if c.domain not in ("login", "test"):
        return c.domain
    if c.instance_url is not None:
        parts = urlsplit(c.instance_url)
        host = (parts.hostname or "").lower()
        if parts.scheme == "https" and host.endswith(".my.salesforce.com"):
            return host.removesuffix(".salesforce.com")
    return None


class SalesforceSession:
    """One org and object: the logged-in client, the describe cache and the retry boundary.

    Every API call goes through `call`, which re-authenticates on `INVALID_SESSION_ID`,
    backs off on 429/502/503/504 and connection errors (honouring `Retry-After`), and
    stops for good on `REQUEST_LIMIT_EXCEEDED`.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        object_name: str,
        api_version: str,
        tuning: Tuning,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Hold the settings; nothing is sent until the first call."""
        self.credentials = credentials
        self.object_name = object_name
        self.api_version = api_version
        self.tuning = tuning
        self.sleep = sleep
        self.retry = RetryPolicy("Salesforce", max_retries=tuning.max_retries,
                                 backoff_seconds=tuning.retry_backoff_seconds,
                                 max_wait_seconds=MAX_BACKOFF_SECONDS, sleep=sleep, rng=random.Random())
        self.http = http_session(credentials.instance_url, tuning.timeout_seconds)
        self._retry_after = _RetryAfter()
        self.http.hooks["response"].append(self._retry_after.hook)
        self._calls_lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        """(method, path) -> requests answered: every call of simple-salesforce and its Bulk client ends here."""
        self.http.hooks["response"].append(self._count)
        self.fields: dict[str, FieldInfo] | None = None
        """The object's describe, read once (see `describe.describe`)."""
        self.record_types: dict[str, str] = {}
        """Active record types other than Master: id -> name (filled by `describe.describe`)."""
        self.rates: Rates | None = None
        """A multi-currency org's conversion rates, read once (see `currency.corporate_rates`)."""
        self._sf: Salesforce | None = None
        self._stopped: ApiBudgetExhaustedError | None = None

    def _count(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        """A requests response hook (public API): one more answered request of this method and path."""
        with self._calls_lock:
            self.calls[(str(response.request.method), urlsplit(response.request.url or "").path)] += 1

    def call(self, action: str, operation: Callable[[Salesforce], T]) -> T:
        """Run one API call: re-login on an expired session, back off on throttling.

        A call that changes data goes through `write_call`, which never sends it twice.

        Args:
            action: What the call does, for messages.
            operation: The call, given the logged-in client.

        Raises:
            ApiBudgetExhaustedError: `REQUEST_LIMIT_EXCEEDED`.
            RetriableCrmError: Throttling or connection errors outlasted `max_retries`.
            CrmError: Any other refusal or failure.
        """
        if self._stopped is not None:
            # After REQUEST_LIMIT_EXCEEDED nothing more is sent in this run.
            raise self._stopped
        relogins = 0

        def classify(error: Exception) -> Retry | None:
            nonlocal relogins
            if isinstance(error, SalesforceExpiredSession):
                if self.credentials.auth == "session":
                    raise CrmError(
                        f"{action}: the Salesforce session expired or is invalid "
                        f"({error_text(error)}); auth session cannot log in again: provide a "
                        "fresh crm.session_id or use jwt or client_credentials"
                    ) from None
                if relogins >= MAX_RELOGINS:
                    raise CrmError(f"{action}: Salesforce keeps refusing new sessions") from None
                relogins += 1
                log.info("the Salesforce session expired; logging in again")
                self._sf = None
                return Retry("the session expired", backoff=False)
            if isinstance(error, SalesforceGeneralError):
                if error.status not in RETRIED_STATUSES:
                    raise CrmError(f"{action}: {error_text(error)}") from None
                return Retry(f"{action}: HTTP {error.status}", retry_after=self._retry_after.take())
            if isinstance(error, SalesforceError):
                code, message = error_parts(error)
                if code == LIMIT_EXCEEDED and is_concurrency_limit(message):
                    # Concurrent-request limits clear in seconds, unlike the daily allowance.
                    return Retry(f"{action}: {code}: {message}", retry_after=self._retry_after.take(),
                                 at_least=1.0)
                if code == LIMIT_EXCEEDED:
                    self._stopped = ApiBudgetExhaustedError(
                        f"{action}: Salesforce refused the call with REQUEST_LIMIT_EXCEEDED: the "
                        "org's API request limit is exhausted; stopped without sending more"
                    )
                    raise self._stopped from None
                raise CrmError(f"{action}: {error_text(error)}") from None
            if isinstance(error, SalesforceOperationError):
                raise CrmError(f"{action}: {error}") from None
            if isinstance(error, requests.ConnectionError | requests.Timeout):
                return Retry(f"{action}: {type(error).__name__}")
            if isinstance(error, requests.RequestException | ValueError):
                # A body that is not JSON, cut short, or reset while being read.
                return Retry(f"{action}: Salesforce's answer was unreadable ({type(error).__name__})")
            return None

        return self.retry.run(lambda: operation(self.client()), classify)

    def write_call(self, action: str, operation: Callable[[Salesforce], T]) -> T:
        """`call` for a request that changes data: once it may have reached Salesforce it is not sent again.

        A connection that failed before the request went out is retried like any call;
        an answer lost after it (a timeout, a reset, a truncated or unreadable body) is
        raised as `WriteOutcomeUnknownError`, for the caller to read the records back.

        Raises:
            WriteOutcomeUnknownError: The request may have been carried out; its answer was lost.
        """
        def once(sf: Salesforce) -> T:
            try:
                return operation(sf)
            except requests.RequestException as error:
                if _not_sent(error):
                    raise
                raise WriteOutcomeUnknownError(f"{action}: the answer was lost ({type(error).__name__})") from None
            except ValueError:
                # simple-salesforce decodes a 200's body as JSON: a truncated or HTML body lands here.
                raise WriteOutcomeUnknownError(f"{action}: Salesforce's answer was not readable JSON") from None

        return self.call(action, once)

    def client(self) -> Salesforce:
        """The logged-in simple-salesforce client, logging in on first use."""
        if self._sf is None:
            self._sf = self._login()
        return self._sf

    def write_headers(self) -> dict[str, str]:
        """Headers of every update call: the duplicate-rule header unless rules are enforced."""
        if self.tuning.duplicate_rules == "allow_save":
            return {DUPLICATE_RULE_HEADER: "allowSave=true"}
        return {}

    def bulk(self, sf: Salesforce) -> _Bulk2Client:
        """A Bulk API 2.0 client bound to the current session (rebuilt after a re-login)."""
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {sf.session_id}",
                   "X-PrettyPrint": "1"}
        return _Bulk2Client(self.object_name, sf.bulk2_url, headers, sf.session)

    def _login(self) -> Salesforce:
        c = self.credentials
        if c.auth == "session":
            return Salesforce(instance_url=c.instance_url, session_id=c.session_id,
                              session=self.http, version=self.api_version, object_pairs_hook=dict)
        options: dict[str, Any] = {"session": self.http, "domain": c.domain}
        if c.auth == "jwt":
            # The assertion's audience is login or test; the token comes from the same host.
            options.update(username=c.username, consumer_key=c.consumer_key,
                           privatekey_file=str(c.private_key_file))
        elif c.auth == "client_credentials":
            options.update(consumer_key=c.consumer_key, consumer_secret=c.consumer_secret,
                           domain=my_domain(c))
        else:
            log.warning(RETIRING_FLOW_WARNING)
            # The OAuth username-password flow takes the security token appended to the
            # password; passing it separately would make simple-salesforce use SOAP login().
            options.update(username=c.username, password=(c.password or "") + (c.security_token or ""),
                           consumer_key=c.consumer_key, consumer_secret=c.consumer_secret)

        def classify(error: Exception) -> Retry | None:
            if isinstance(error, SalesforceAuthenticationFailed):
                raise CrmError(
                    f"Salesforce login failed (auth {c.auth}): {error.code}: {error.message}"
                ) from None
            if isinstance(error, requests.RequestException):
                return Retry(f"cannot reach Salesforce to log in: {error}")
            if isinstance(error, OSError):
                # requests' connection errors and an unreadable key file are both OSErrors.
                raise InvalidInputError(
                    f"cannot read crm.private_key_file {c.private_key_file}: {error.strerror}"
                ) from None
            return None

        session_id, instance = self.retry.run(lambda: SalesforceLogin(**options), classify)
        log.debug("logged in to Salesforce (auth %s)", c.auth)
        return Salesforce(instance=instance, session_id=session_id, session=self.http,
                          version=self.api_version, object_pairs_hook=dict)

