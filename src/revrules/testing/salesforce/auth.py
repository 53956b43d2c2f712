"""Logging in: the OAuth token endpoint (JWT bearer, client credentials, password) and the SOAP login."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape as xml_escape

from revrules.testing.salesforce.responses import _header, _json, _Response
from revrules.testing.salesforce.state import _ORG_ID, _USER_ID, OrgState

SOAP_LOGIN_RETIRED_AT = 65
"""The first API version whose SOAP `login()` call is refused."""
JWT_AUDIENCES = frozenset({"https://login.salesforce.com", "https://test.salesforce.com"})
"""The audiences a JWT bearer assertion may name (OAuth 2.0 JWT Bearer Flow: never a My Domain)."""


class AuthApi(OrgState):
    """`POST /services/oauth2/token` and `POST /services/Soap/u/{version}`."""

    def _token_payload(self) -> dict[str, Any]:
        token = self.issue_token()
        issued = str(int(time.time() * 1000))
        signature = base64.b64encode(secrets.token_bytes(32)).decode()
        return {
            "access_token": token,
            "instance_url": self.url,
            "id": f"{self.url}/id/{_ORG_ID}AAA/{_USER_ID}",
            "token_type": "Bearer",
            "issued_at": issued,
            "signature": signature,
            "scope": "api",
        }

    def _token(self, headers: Mapping[str, str], body: bytes) -> _Response:
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if self.faults.auth_failure:
            return _json(
                400, {"error": "invalid_grant", "error_description": "authentication failure"}
            )
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            if not _jwt_well_formed(form.get("assertion", "")):
                return _json(
                    400, {"error": "invalid_grant", "error_description": "invalid assertion"}
                )
        elif grant == "client_credentials":
            basic = _header(headers, "Authorization") or ""
            has_basic = basic.lower().startswith("basic ") and ":" in _b64(basic[6:])
            if not has_basic and not (form.get("client_id") and form.get("client_secret")):
                return _json(
                    400,
                    {"error": "invalid_client", "error_description": "invalid client credentials"},
                )
        elif grant == "password":
            if not (form.get("username") and form.get("password") and form.get("client_id")):
                return _json(
                    400, {"error": "invalid_grant", "error_description": "authentication failure"}
                )
        else:
            return _json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        return _json(200, self._token_payload())

    def _soap_login(self, body: bytes, major_version: int = 59) -> _Response:
        text = body.decode("utf-8", "replace")
        username = re.search(r"<(?:\w+:)?username>(.*?)</(?:\w+:)?username>", text, re.S)
        code, message = "INVALID_LOGIN", "Invalid username, password, security token; or user locked out."
        if major_version >= SOAP_LOGIN_RETIRED_AT:
            # Salesforce's release notes: SOAP login() is unavailable from API 65.0 on.
            code, message = "UNSUPPORTED_API_VERSION", "login() is not available in API version 65.0 and later"
        if (self.faults.auth_failure or username is None or not username.group(1).strip()
                or major_version >= SOAP_LOGIN_RETIRED_AT):
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:sf="urn:fault.partner.soap.sforce.com" '
                'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
                f"<soapenv:Fault><faultcode>sf:{code}</faultcode>"
                f"<faultstring>{code}: {message}</faultstring><detail>"
                '<sf:LoginFault xsi:type="sf:LoginFault">'
                f"<sf:exceptionCode>{code}</sf:exceptionCode>"
                f"<sf:exceptionMessage>{message}</sf:exceptionMessage></sf:LoginFault>"
                "</detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
            )
            return _Response(500, fault.encode(), "text/xml;charset=UTF-8")
        token = self.issue_token()
        base = self.url
        version = self.api_version
        envelope = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{_ORG_ID}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{_ORG_ID}</serverUrl>"
            f"<sessionId>{xml_escape(token)}</sessionId><userId>{_USER_ID}</userId>"
            f"<userInfo><organizationId>{_ORG_ID}AAA</organizationId>"
            f"<userName>{xml_escape(username.group(1).strip())}</userName></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return _Response(200, envelope.encode(), "text/xml;charset=UTF-8")


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text.strip() + "==").decode("utf-8", "replace")
    except ValueError:
        return ""


def _jwt_well_formed(assertion: str) -> bool:
    """Whether an assertion is an RS256 JWT with iss, sub, a login/test aud and an unexpired exp."""
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return False
    try:
        header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return False
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return False
    if header.get("alg") != "RS256" or not all(claims.get(k) for k in ("iss", "sub", "aud")):
        return False
    if claims.get("aud") not in JWT_AUDIENCES:
        return False
    try:
        return float(claims.get("exp", 0)) > time.time()
    except (TypeError, ValueError):
        return False

