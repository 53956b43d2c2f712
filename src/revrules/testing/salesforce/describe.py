"""Describe metadata: field specs expanded to the keys of a recorded Account describe, and the served tables."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# Field metadata with the exact keys of a recorded Account describe
# (CumulusCI cassette GET_sobjects_Account_describe.yaml, API v48.0).
_BASE_FIELD: dict[str, Any] = {
    "aggregatable": True,
    "aiPredictionField": False,
    "autoNumber": False,
    "byteLength": 0,
    "calculated": False,
    "calculatedFormula": None,
    "cascadeDelete": False,
    "caseSensitive": False,
    "compoundFieldName": None,
    "controllerName": None,
    "createable": True,
    "custom": False,
    "defaultValue": None,
    "defaultValueFormula": None,
    "defaultedOnCreate": False,
    "dependentPicklist": False,
    "deprecatedAndHidden": False,
    "digits": 0,
    "displayLocationInDecimal": False,
    "encrypted": False,
    "externalId": False,
    "extraTypeInfo": None,
    "filterable": True,
    "filteredLookupInfo": None,
    "formulaTreatNullNumberAsZero": False,
    "groupable": True,
    "highScaleNumber": False,
    "htmlFormatted": False,
    "idLookup": False,
    "inlineHelpText": None,
    "label": "",
    "length": 0,
    "mask": None,
    "maskType": None,
    "name": "",
    "nameField": False,
    "namePointing": False,
    "nillable": True,
    "permissionable": True,
    "picklistValues": [],
    "polymorphicForeignKey": False,
    "precision": 0,
    "queryByDistance": False,
    "referenceTargetField": None,
    "referenceTo": [],
    "relationshipName": None,
    "relationshipOrder": None,
    "restrictedDelete": False,
    "restrictedPicklist": False,
    "scale": 0,
    "searchPrefilterable": False,
    "soapType": "xsd:string",
    "sortable": True,
    "type": "string",
    "unique": False,
    "updateable": True,
    "writeRequiresMasterRead": False,
}

_SYSTEM_FIELD: dict[str, Any] = {
    "createable": False,
    "updateable": False,
    "nillable": False,
    "permissionable": False,
    "defaultedOnCreate": True,
}

_TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "id": {"length": 18, "soapType": "tns:ID", "idLookup": True, **_SYSTEM_FIELD},
    "string": {"length": 255},
    "picklist": {"length": 255},
    "multipicklist": {"length": 4099},
    "url": {"length": 255},
    "email": {"length": 80},
    "phone": {"length": 40},
    "textarea": {
        "length": 32768,
        "aggregatable": False,
        "filterable": False,
        "groupable": False,
        "sortable": False,
        "extraTypeInfo": "plaintextarea",
    },
    "reference": {"length": 18, "soapType": "tns:ID"},
    "int": {"digits": 9, "soapType": "xsd:int"},
    "double": {"precision": 18, "scale": 2, "groupable": False, "soapType": "xsd:double"},
    "currency": {"precision": 18, "scale": 2, "groupable": False, "soapType": "xsd:double"},
    "percent": {"precision": 18, "scale": 2, "groupable": False, "soapType": "xsd:double"},
    "boolean": {
        "aggregatable": False,
        "defaultValue": False,
        "defaultedOnCreate": True,
        "nillable": False,
        "soapType": "xsd:boolean",
    },
    "date": {"soapType": "xsd:date"},
    "datetime": {"groupable": False, "soapType": "xsd:dateTime"},
}

_TEXT_TYPES = frozenset(
    {"id", "string", "picklist", "multipicklist", "url", "email", "phone", "textarea", "reference"}
)
_NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})

_INDUSTRY_VALUES = (
    "Agriculture",
    "Apparel",
    "Banking",
    "Biotechnology",
    "Chemicals",
    "Communications",
    "Construction",
    "Consulting",
    "Education",
    "Electronics",
    "Energy",
    "Engineering",
    "Entertainment",
    "Environmental",
    "Finance",
    "Food & Beverage",
    "Government",
    "Healthcare",
    "Hospitality",
    "Insurance",
    "Machinery",
    "Manufacturing",
    "Media",
    "Not For Profit",
    "Recreation",
    "Retail",
    "Shipping",
    "Technology",
    "Telecommunications",
    "Transportation",
    "Utilities",
    "Other",
)
_ACCOUNT_TYPE_VALUES = (
    "Prospect",
    "Customer - Direct",
    "Customer - Channel",
    "Channel Partner / Reseller",
    "Installation Partner",
    "Technology Partner",
    "Other",
)

ACCOUNT_FIELDS: tuple[dict[str, Any], ...] = (
    {"name": "Id", "type": "id", "label": "Account ID"},
    {
        "name": "Name",
        "type": "string",
        "label": "Account Name",
        "length": 255,
        "compoundFieldName": "Name",
        "extraTypeInfo": "switchablepersonname",
        "nameField": True,
        "nillable": False,
        "permissionable": False,
    },
    {
        "name": "Type",
        "type": "picklist",
        "label": "Account Type",
        "length": 40,
        "values": _ACCOUNT_TYPE_VALUES,
    },
    {
        "name": "BillingState",
        "type": "string",
        "label": "Billing State/Province",
        "length": 80,
        "compoundFieldName": "BillingAddress",
    },
    {
        "name": "BillingCountry",
        "type": "string",
        "label": "Billing Country",
        "length": 80,
        "compoundFieldName": "BillingAddress",
    },
    {"name": "Website", "type": "url", "label": "Website", "length": 255},
    {
        "name": "Industry",
        "type": "picklist",
        "label": "Industry",
        "length": 40,
        "values": _INDUSTRY_VALUES,
    },
    {
        "name": "AnnualRevenue",
        "type": "currency",
        "label": "Annual Revenue",
        "precision": 18,
        "scale": 0,
    },
    {"name": "NumberOfEmployees", "type": "int", "label": "Employees", "digits": 8},
    {
        "name": "OwnerId",
        "type": "reference",
        "label": "Owner ID",
        "referenceTo": ["User"],
        "relationshipName": "Owner",
        "defaultedOnCreate": True,
        "nillable": False,
        "permissionable": False,
    },
    {"name": "CreatedDate", "type": "datetime", "label": "Created Date", **_SYSTEM_FIELD},
    {
        "name": "LastModifiedDate",
        "type": "datetime",
        "label": "Last Modified Date",
        **_SYSTEM_FIELD,
    },
    {"name": "SystemModstamp", "type": "datetime", "label": "System Modstamp", **_SYSTEM_FIELD},
)
"""The default Account fields, as `describe_field` specs, with a recorded org's metadata."""


def picklist_entry(value: str) -> dict[str, Any]:
    """One `picklistValues` entry, shaped like a recorded describe's.

    Args:
        value: The API value (also used as the label).

    Returns:
        The `{active, defaultValue, label, validFor, value}` entry.
    """
    return {"active": True, "defaultValue": False, "label": value, "validFor": None, "value": value}


def describe_field(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Expand a short field spec into a full describe field with every recorded key.

    Args:
        spec: At least `name` and `type`; any describe key overrides the default for the
            type. Extra keys: `values` (picklist API values) and `restricted` (bool, for
            `restrictedPicklist`).

    Returns:
        A field dict with the same keys and value types as a real describe's field.

    Raises:
        ValueError: The type is not one the emulator knows.
    """
    kind = str(spec["type"])
    if kind not in _TYPE_DEFAULTS:
        raise ValueError(f"unknown field type {kind!r} for field {spec['name']!r}")
    name = str(spec["name"])
    result = copy.deepcopy(_BASE_FIELD)
    result.update(copy.deepcopy(_TYPE_DEFAULTS[kind]))
    result["name"] = name
    result["type"] = kind
    result["custom"] = name.endswith("__c")
    result["label"] = name.removesuffix("__c").replace("_", " ")
    for key, value in spec.items():
        if key in result:
            result[key] = copy.deepcopy(value)
    if "values" in spec:
        result["picklistValues"] = [picklist_entry(str(v)) for v in spec["values"]]
    if "restricted" in spec:
        result["restrictedPicklist"] = bool(spec["restricted"])
    if "byteLength" not in spec:
        multiplier = 1 if kind in {"id", "reference"} else 3  # UTF-8 bytes per character
        result["byteLength"] = multiplier * int(result["length"]) if kind in _TEXT_TYPES else 0
    if kind not in _TEXT_TYPES:
        result["length"] = 0
    return result


def _describe_object(object_name: str, version: str, base_url: str) -> dict[str, Any]:
    """The object-level keys of a describe, as in the recorded Account describe."""
    prefix = "001" if object_name == "Account" else "a00"
    data = f"/services/data/v{version}/sobjects/{object_name}"
    return {
        "actionOverrides": [],
        "activateable": False,
        "childRelationships": [],
        "compactLayoutable": True,
        "createable": True,
        "custom": object_name.endswith("__c"),
        "customSetting": False,
        "deepCloneable": False,
        "defaultImplementation": None,
        "deletable": True,
        "deprecatedAndHidden": False,
        "extendedBy": None,
        "extendsInterfaces": None,
        "feedEnabled": True,
        "fields": [],
        "hasSubtypes": False,
        "implementedBy": None,
        "implementsInterfaces": None,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": prefix,
        "label": object_name.removesuffix("__c"),
        "labelPlural": object_name.removesuffix("__c") + "s",
        "layoutable": True,
        "listviewable": None,
        "lookupLayoutable": None,
        "mergeable": True,
        "mruEnabled": True,
        "name": object_name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": True,
        "recordTypeInfos": [
            {
                "active": True,
                "available": True,
                "defaultRecordTypeMapping": True,
                "developerName": "Master",
                "master": True,
                "name": "Master",
                "recordTypeId": "012000000000000AAA",
                "urls": {"layout": f"{data}/describe/layouts/012000000000000AAA"},
            }
        ],
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": True,
        "searchable": True,
        "supportedScopes": [
            {"label": "All accounts", "name": "everything"},
            {"label": "My accounts", "name": "mine"},
            {"label": "My team's accounts", "name": "team"},
        ],
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urls": {
            "compactLayouts": f"{data}/describe/compactLayouts",
            "rowTemplate": f"{data}/{{ID}}",
            "approvalLayouts": f"{data}/describe/approvalLayouts",
            "uiDetailTemplate": f"{base_url}/{{ID}}",
            "uiEditTemplate": f"{base_url}/{{ID}}/e",
            "defaultValues": f"{data}/defaultValues?recordTypeId&fields",
            "listviews": f"{data}/listviews",
            "describe": f"{data}/describe",
            "uiNewRecord": f"{base_url}/{prefix}/e",
            "quickActions": f"{data}/quickActions",
            "layouts": f"{data}/describe/layouts",
            "sobject": data,
        },
    }



# The tables served beside the main object, for owner lookups and marketing lists.

_CURRENCY_TYPE_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "IsoCode", "type": "string", "length": 3},
        {"name": "ConversionRate", "type": "double", "scale": 6},
        {"name": "IsCorporate", "type": "boolean"},
        {"name": "IsActive", "type": "boolean"},
    )
}
"""`CurrencyType` in a multi-currency org: each active currency and its rate to the corporate one."""

_USER_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "Name", "type": "string"},
        {"name": "Email", "type": "email"},
        {"name": "IsActive", "type": "boolean"},
    )
}


_CONTACT_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "AccountId", "type": "reference", "referenceTo": ["Account"]},
        {"name": "OwnerId", "type": "reference", "referenceTo": ["User"]},
        {"name": "FirstName", "type": "string"},
        {"name": "LastName", "type": "string"},
        {"name": "Email", "type": "email"},
    )
}
# The standard value sets of a new org (Metadata API Developer Guide, "StandardValueSet Names
# and Standard Picklist Fields": CampaignType, CampaignStatus, CampaignMemberStatus). A new
# Campaign gets the member statuses "Sent" (the default) and "Responded" (Object Reference,
# CampaignMemberStatus; Salesforce Help, "Campaign Member Statuses"). The emulator restricts all
# three, so a value the org does not offer is refused as an org with restricted picklists does.
CAMPAIGN_TYPES = ("Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program",
                  "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Other")
CAMPAIGN_STATUSES = ("Planned", "In Progress", "Completed", "Aborted")
CAMPAIGN_MEMBER_STATUSES = ("Sent", "Responded")
_CAMPAIGN_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "Name", "type": "string", "length": 80},
        {"name": "Type", "type": "picklist", "values": CAMPAIGN_TYPES, "restricted": True},
        {"name": "Status", "type": "picklist", "values": CAMPAIGN_STATUSES, "restricted": True},
        {"name": "IsActive", "type": "boolean"},
        {"name": "Description", "type": "textarea", "length": 32000},
    )
}
_CAMPAIGN_MEMBER_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "CampaignId", "type": "reference", "referenceTo": ["Campaign"]},
        {"name": "ContactId", "type": "reference", "referenceTo": ["Contact"]},
        {"name": "Status", "type": "picklist", "values": CAMPAIGN_MEMBER_STATUSES, "restricted": True},
        {"name": "Description", "type": "string", "length": 255, "updateable": False, "createable": False},
        {"name": "Revrules_List__c", "type": "string", "length": 255, "custom": True},
    )
}
# Object Reference, Opportunity: `IsClosed` is set by the stage (Create, Filter, Group, Sort, Defaulted on
# create; not updateable); `StageName` and `CloseDate` are required on create.
_OPPORTUNITY_FIELDS = {
    str(spec["name"]): describe_field(spec)
    for spec in (
        {"name": "Id", "type": "id"},
        {"name": "AccountId", "type": "reference", "referenceTo": ["Account"]},
        {"name": "OwnerId", "type": "reference", "referenceTo": ["User"]},
        {"name": "Name", "type": "string", "length": 120},
        {"name": "StageName", "type": "string", "length": 255},
        {"name": "CloseDate", "type": "date"},
        {"name": "IsClosed", "type": "boolean", "updateable": False, "createable": False},
    )
}
_LIST_OBJECTS = {"Contact": _CONTACT_FIELDS, "Campaign": _CAMPAIGN_FIELDS, "CampaignMember": _CAMPAIGN_MEMBER_FIELDS,
                 "Opportunity": _OPPORTUNITY_FIELDS}
"""The tables beside the main object (marketing lists, and the records that follow an owner change): name → fields."""
_LIST_ID_PREFIXES = {"Contact": "003", "Campaign": "701", "CampaignMember": "00v", "Opportunity": "006"}
_OWNED_OBJECTS = ("Contact", "Opportunity")
"""Tables whose `OwnerId` sObject Collections PATCH may change (when an account's owner change carries them)."""

