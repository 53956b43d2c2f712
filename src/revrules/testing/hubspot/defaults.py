"""The default portal: company properties (with the industry options), property groups and owners."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from revrules.testing.hubspot.protocol import JsonObject

# The `industry` options: list A of the realdata enum file (148 values, the one
# that claims validation against a live portal in 2026). It has the disputed
# NON_PROFIT_ spelling and MOBILE_GAMES; labels are derived, not recorded.
INDUSTRY_VALUES: tuple[str, ...] = (
    "ACCOUNTING", "AIRLINES_AVIATION", "ALTERNATIVE_DISPUTE_RESOLUTION", "ALTERNATIVE_MEDICINE",
    "ANIMATION", "APPAREL_FASHION", "ARCHITECTURE_PLANNING", "ARTS_AND_CRAFTS", "AUTOMOTIVE",
    "AVIATION_AEROSPACE", "BANKING", "BIOTECHNOLOGY", "BROADCAST_MEDIA", "BUILDING_MATERIALS",
    "BUSINESS_SUPPLIES_AND_EQUIPMENT", "CAPITAL_MARKETS", "CHEMICALS", "CIVIC_SOCIAL_ORGANIZATION",
    "CIVIL_ENGINEERING", "COMMERCIAL_REAL_ESTATE", "COMPUTER_NETWORK_SECURITY", "COMPUTER_GAMES",
    "COMPUTER_HARDWARE", "COMPUTER_NETWORKING", "COMPUTER_SOFTWARE", "INTERNET", "CONSTRUCTION",
    "CONSUMER_ELECTRONICS", "CONSUMER_GOODS", "CONSUMER_SERVICES", "COSMETICS", "DAIRY",
    "DEFENSE_SPACE", "DESIGN", "EDUCATION_MANAGEMENT", "E_LEARNING",
    "ELECTRICAL_ELECTRONIC_MANUFACTURING", "ENTERTAINMENT", "ENVIRONMENTAL_SERVICES",
    "EVENTS_SERVICES", "EXECUTIVE_OFFICE", "FACILITIES_SERVICES", "FARMING", "FINANCIAL_SERVICES",
    "FINE_ART", "FISHERY", "FOOD_BEVERAGES", "FOOD_PRODUCTION", "FUND_RAISING", "FURNITURE",
    "GAMBLING_CASINOS", "GLASS_CERAMICS_CONCRETE", "GOVERNMENT_ADMINISTRATION",
    "GOVERNMENT_RELATIONS", "GRAPHIC_DESIGN", "HEALTH_WELLNESS_AND_FITNESS", "HIGHER_EDUCATION",
    "HOSPITAL_HEALTH_CARE", "HOSPITALITY", "HUMAN_RESOURCES", "IMPORT_AND_EXPORT",
    "INDIVIDUAL_FAMILY_SERVICES", "INDUSTRIAL_AUTOMATION", "INFORMATION_SERVICES",
    "INFORMATION_TECHNOLOGY_AND_SERVICES", "INSURANCE", "INTERNATIONAL_AFFAIRS",
    "INTERNATIONAL_TRADE_AND_DEVELOPMENT", "INVESTMENT_BANKING", "INVESTMENT_MANAGEMENT",
    "JUDICIARY", "LAW_ENFORCEMENT", "LAW_PRACTICE", "LEGAL_SERVICES", "LEGISLATIVE_OFFICE",
    "LEISURE_TRAVEL_TOURISM", "LIBRARIES", "LOGISTICS_AND_SUPPLY_CHAIN", "LUXURY_GOODS_JEWELRY",
    "MACHINERY", "MANAGEMENT_CONSULTING", "MARITIME", "MARKET_RESEARCH",
    "MARKETING_AND_ADVERTISING", "MECHANICAL_OR_INDUSTRIAL_ENGINEERING", "MEDIA_PRODUCTION",
    "MEDICAL_DEVICES", "MEDICAL_PRACTICE", "MENTAL_HEALTH_CARE", "MILITARY", "MINING_METALS",
    "MOTION_PICTURES_AND_FILM", "MUSEUMS_AND_INSTITUTIONS", "MUSIC", "NANOTECHNOLOGY",
    "NEWSPAPERS", "NON_PROFIT_ORGANIZATION_MANAGEMENT", "OIL_ENERGY", "ONLINE_MEDIA",
    "OUTSOURCING_OFFSHORING", "PACKAGE_FREIGHT_DELIVERY", "PACKAGING_AND_CONTAINERS",
    "PAPER_FOREST_PRODUCTS", "PERFORMING_ARTS", "PHARMACEUTICALS", "PHILANTHROPY", "PHOTOGRAPHY",
    "PLASTICS", "POLITICAL_ORGANIZATION", "PRIMARY_SECONDARY_EDUCATION", "PRINTING",
    "PROFESSIONAL_TRAINING_COACHING", "PROGRAM_DEVELOPMENT", "PUBLIC_POLICY",
    "PUBLIC_RELATIONS_AND_COMMUNICATIONS", "PUBLIC_SAFETY", "PUBLISHING", "RAILROAD_MANUFACTURE",
    "RANCHING", "REAL_ESTATE", "RECREATIONAL_FACILITIES_AND_SERVICES", "RELIGIOUS_INSTITUTIONS",
    "RENEWABLES_ENVIRONMENT", "RESEARCH", "RESTAURANTS", "RETAIL", "SECURITY_AND_INVESTIGATIONS",
    "SEMICONDUCTORS", "SHIPBUILDING", "SPORTING_GOODS", "SPORTS", "STAFFING_AND_RECRUITING",
    "SUPERMARKETS", "TELECOMMUNICATIONS", "TEXTILES", "THINK_TANKS", "TOBACCO",
    "TRANSLATION_AND_LOCALIZATION", "TRANSPORTATION_TRUCKING_RAILROAD", "UTILITIES",
    "VENTURE_CAPITAL_PRIVATE_EQUITY", "VETERINARY", "WAREHOUSING", "WHOLESALE", "WINE_AND_SPIRITS",
    "WIRELESS", "WRITING_AND_EDITING", "MOBILE_GAMES",
)  # fmt: skip

COMPANY_TYPE_VALUES = ("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER")
LIFECYCLE_STAGE_VALUES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
# Properties returned when a read names none (the spec says name and domain;
# portals also send the system properties).
DEFAULT_READ_PROPERTIES = ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id")
SEARCHABLE_TEXT_PROPERTIES = ("name", "domain", "website", "phone")
SYSTEM_PROPERTIES = ("createdate", "hs_lastmodifieddate", "hs_object_id")



def _label_for(value: str) -> str:
    return value.replace("_", " ").strip().title()


def _options(values: Iterable[str]) -> list[JsonObject]:
    return [
        {"label": _label_for(value), "value": value, "displayOrder": index, "hidden": False}
        for index, value in enumerate(values)
    ]



def _complete_property(definition: Mapping[str, Any]) -> JsonObject:
    """Fill a property definition to the ``Property`` schema's full shape."""
    stamp = "2019-08-06T02:41:52.000Z"
    read_only = bool(definition.get("_readOnly")) or definition.get("name") in SYSTEM_PROPERTIES
    metadata = definition.get("modificationMetadata") or {
        "archivable": not read_only and not definition.get("hubspotDefined", False),
        "readOnlyDefinition": bool(definition.get("hubspotDefined", False)),
        "readOnlyValue": read_only,
    }
    options = [
        {
            "label": str(o["label"]),
            "value": str(o["value"]),
            "displayOrder": int(o.get("displayOrder", index)),
            "hidden": bool(o.get("hidden", False)),
            **({"description": o["description"]} if o.get("description") else {}),
        }
        for index, o in enumerate(definition.get("options") or [])
    ]
    complete: JsonObject = {
        "name": str(definition["name"]),
        "label": str(definition.get("label") or _label_for(str(definition["name"]))),
        "type": str(definition.get("type") or "string"),
        "fieldType": str(definition.get("fieldType") or "text"),
        "description": str(definition.get("description") or ""),
        "groupName": str(definition.get("groupName") or "companyinformation"),
        "options": options,
        "displayOrder": int(definition.get("displayOrder", -1)),
        "calculated": bool(definition.get("calculated", False)),
        "externalOptions": bool(definition.get("externalOptions", False)),
        "hasUniqueValue": bool(definition.get("hasUniqueValue", False)),
        "hidden": bool(definition.get("hidden", False)),
        "hubspotDefined": bool(definition.get("hubspotDefined", False)),
        "showCurrencySymbol": bool(definition.get("showCurrencySymbol", False)),
        "modificationMetadata": dict(metadata),
        "formField": bool(definition.get("formField", False)),
        "createdAt": str(definition.get("createdAt") or stamp),
        "updatedAt": str(definition.get("updatedAt") or stamp),
        "archived": bool(definition.get("archived", False)),
    }
    if definition.get("calculationFormula"):
        complete["calculationFormula"] = str(definition["calculationFormula"])
    return complete


def default_company_properties(owners: list[JsonObject] | None = None) -> list[JsonObject]:
    """Return the default company property definitions.

    Args:
        owners: Owners whose ids become the ``hubspot_owner_id`` options.

    Returns:
        Property definitions (partial ``Property`` JSON; the emulator completes them).
    """

    def prop(name: str, label: str, kind: str, field_type: str, **extra: Any) -> JsonObject:
        return {
            "name": name,
            "label": label,
            "type": kind,
            "fieldType": field_type,
            "groupName": "companyinformation",
            "hubspotDefined": True,
            **extra,
        }

    owner_options = [
        {
            "label": f"{o.get('firstName', '')} {o.get('lastName', '')}".strip() or o["id"],
            "value": o["id"],
            "displayOrder": index,
            "hidden": False,
        }
        for index, o in enumerate(owners or [])
        if not o.get("archived")
    ]
    return [
        prop("name", "Name", "string", "text"),
        prop("domain", "Company Domain Name", "string", "text"),
        prop("website", "Website URL", "string", "text"),
        prop("industry", "Industry", "enumeration", "select", options=_options(INDUSTRY_VALUES)),
        prop("numberofemployees", "Number of Employees", "number", "number"),
        prop("annualrevenue", "Annual Revenue", "number", "number", showCurrencySymbol=True),
        prop("country", "Country/Region", "string", "text"),
        prop("state", "State/Region", "string", "text"),
        prop("city", "City", "string", "text"),
        prop("zip", "Postal Code", "string", "text"),
        prop("address", "Street Address", "string", "text"),
        prop("phone", "Phone Number", "string", "phonenumber"),
        prop("description", "Description", "string", "textarea"),
        prop("type", "Type", "enumeration", "select", options=_options(COMPANY_TYPE_VALUES)),
        prop(
            "lifecyclestage",
            "Lifecycle Stage",
            "enumeration",
            "radio",
            options=_options(LIFECYCLE_STAGE_VALUES),
        ),
        prop("hubspot_owner_id", "Company owner", "enumeration", "select", options=owner_options),
        prop(
            "is_public",
            "Is Public",
            "bool",
            "booleancheckbox",
            options=[
                {"label": "True", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "False", "value": "false", "displayOrder": 1, "hidden": False},
            ],
        ),
        prop("createdate", "Create Date", "datetime", "date"),
        prop("hs_lastmodifieddate", "Last Modified Date", "datetime", "date"),
        prop("hs_object_id", "Record ID", "number", "number"),
        # Set by the parent-child company association, read-only as a property (the name as
        # a portal lists it: /work/shared/realdata/hubspot/airbyte_test_portal_companies_excerpt.json).
        prop("hs_parent_company_id", "Parent Company", "number", "number", _readOnly=True),
    ]


def _default_groups() -> list[JsonObject]:
    return [
        {"name": "companyinformation", "label": "Company information", "displayOrder": 0,
         "archived": False},
        {"name": "analyticsinformation", "label": "Web analytics history", "displayOrder": 3,
         "archived": False},
        {"name": "target_account_information", "label": "Target account information",
         "displayOrder": 5, "archived": False},
    ]  # fmt: skip


def _default_owners() -> list[JsonObject]:
    people = [
        ("1000001", "Avery", "Stone", False),
        ("1000002", "Blake", "Moreno", False),
        ("1000003", "Casey", "Nakamura", False),
        ("1000004", "Devon", "Okafor", True),
    ]
    return [
        {
            "id": oid,
            "firstName": first,
            "lastName": last,
            "email": f"{first.lower()}.{last.lower()}@example.com",
            "archived": archived,
        }
        for oid, first, last, archived in people
    ]


def _complete_owner(owner: Mapping[str, Any], index: int) -> JsonObject:
    stamp = "2021-03-01T09:00:00.000Z"
    user_id = int(owner.get("userId", 2000001 + index))
    return {
        "id": str(owner["id"]),
        "email": str(owner.get("email", f"owner{index}@example.com")),
        "firstName": str(owner.get("firstName", "")),
        "lastName": str(owner.get("lastName", "")),
        "type": str(owner.get("type", "PERSON")),
        "userId": user_id,
        "userIdIncludingInactive": int(owner.get("userIdIncludingInactive", user_id)),
        "createdAt": str(owner.get("createdAt", stamp)),
        "updatedAt": str(owner.get("updatedAt", stamp)),
        "archived": bool(owner.get("archived", False)),
        "teams": list(owner.get("teams", [])),
    }

