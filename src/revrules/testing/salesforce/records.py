"""Writes to the main object: validation, injected per-record faults and all-or-none application."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from revrules.testing.salesforce.describe import _TEXT_TYPES
from revrules.testing.salesforce.state import _USER_ID, OrgState
from revrules.testing.salesforce.values import _ID_RE, _coerce, _FieldError, _format_datetime, _now

_DEFAULT_VALIDATION_MESSAGE = "The record failed a validation rule."
"""The message of a `record_errors` refusal that names the record without a message."""


class RecordStore(OrgState):
    """The write path shared by REST, sObject Collections and Bulk ingest."""

    def _write(
        self,
        writes: Sequence[tuple[str | None, Mapping[str, Any]]],
        *,
        all_or_none: bool,
        json_values: bool,
        allow_save: bool = False,
    ) -> list[str | _FieldError]:
        """Validate and apply updates (id given) and inserts (id None), atomically per call.

        Args:
            writes: (record id or None for an insert, field values) pairs.
            all_or_none: Roll everything back when any record fails.
            json_values: Values come from JSON (None is null) rather than CSV (where "" means
                "leave unchanged" and "#N/A" means null).
            allow_save: The request sent `Sforce-Duplicate-Rule-Header: allowSave=true`.

        Returns:
            Per write, in order: the record id, or the error.
        """
        with self._lock:
            staged: list[tuple[str, dict[str, Any], bool] | _FieldError] = []
            for record_id, values in writes:
                try:
                    staged.append(self._stage(record_id, values, json_values=json_values, allow_save=allow_save))
                except _FieldError as problem:
                    staged.append(problem)
            failed = any(isinstance(s, _FieldError) for s in staged)
            if failed and all_or_none:
                rolled_back = _FieldError(
                    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "Record rolled back because not all records were valid and the request "
                    "was using AllOrNone header",
                )
                return [s if isinstance(s, _FieldError) else rolled_back for s in staged]
            stamp = _format_datetime(_now())
            results: list[str | _FieldError] = []
            for item in staged:
                if isinstance(item, _FieldError):
                    results.append(item)
                    continue
                record_id, changes, created = item
                target = self._records.setdefault(record_id, dict.fromkeys(self._fields))
                target.update(changes)
                target["Id"] = record_id
                for name in ("LastModifiedDate", "SystemModstamp") + (
                    ("CreatedDate",) if created else ()
                ):
                    if name in self._fields:
                        target[name] = stamp
                if created and "OwnerId" in self._fields and target.get("OwnerId") is None:
                    target["OwnerId"] = _USER_ID
                results.append(record_id)
            return results

    def _stage(
        self, record_id: str | None, values: Mapping[str, Any], *, json_values: bool, allow_save: bool = False
    ) -> tuple[str, dict[str, Any], bool]:
        """Check one write; return (id, converted changes, created) or raise its error."""
        created = record_id is None
        if record_id == "":
            raise _FieldError("MISSING_ARGUMENT", "Id not specified in an update call")
        if record_id is not None:
            found = self._find(record_id)
            if found is None:
                if not _ID_RE.match(record_id):
                    raise _FieldError("MALFORMED_ID", f"malformed id {record_id}")
                if record_id in self._deleted:
                    raise _FieldError("ENTITY_IS_DELETED", "entity is deleted")
                raise _FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            record_id = found
        changes: dict[str, Any] = {}
        readonly: list[str] = []
        for name, raw in values.items():
            definition = self._fields.get(name) or self._fields["Id"]
            if not json_values and raw == "":
                continue
            value = None if (json_values and raw is None) or raw == "#N/A" else raw
            allowed = definition["createable"] if created else definition["updateable"]
            if not allowed:
                readonly.append(definition["name"])
                continue
            changes[definition["name"]] = _coerce(definition, value)
        if readonly:
            raise _FieldError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(readonly)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                readonly,
            )
        for name, value in changes.items():
            self._check_value(self._fields[name], value)
        refused = [n for n in changes if record_id is not None and self.faults.field_error(record_id, n) is not None]
        if refused and record_id is not None:
            # A validation rule on one field: Salesforce names it in the error's `fields`.
            message = self.faults.field_error(record_id, refused[0]) or _DEFAULT_VALIDATION_MESSAGE
            raise _FieldError("FIELD_CUSTOM_VALIDATION_EXCEPTION", message, refused)
        owner = changes.get("OwnerId")
        if self.users and owner is not None and not self._active_user(str(owner)):
            # An org refuses an owner that is not an active User (seen on real updates).
            raise _FieldError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["OwnerId"])
        if created:
            missing = [
                n
                for n, d in self._fields.items()
                if not d["nillable"]
                and d["createable"]
                and not d["defaultedOnCreate"]
                and changes.get(n) is None
            ]
            if missing:
                listed = ", ".join(missing)
                raise _FieldError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{listed}]", missing
                )
            record_id = self._new_id()
        if record_id is None:
            raise _FieldError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        self._check_faults(record_id)
        self._check_duplicates(record_id, allow_save=allow_save)
        return record_id, changes, created

    def _check_value(self, definition: Mapping[str, Any], value: Any) -> None:
        name = definition["name"]
        label = definition["label"]
        if value is None:
            if not definition["nillable"]:
                raise _FieldError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name]
                )
            return
        if definition["type"] in ("picklist", "multipicklist") and definition["restrictedPicklist"]:
            allowed = {p["value"] for p in definition["picklistValues"] if p["active"]}
            parts = str(value).split(";") if definition["type"] == "multipicklist" else [value]
            if any(part not in allowed for part in parts):
                raise _FieldError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {value}",
                    [name],
                )
        length = definition["length"]
        if definition["type"] in _TEXT_TYPES and length and len(str(value)) > length:
            raise _FieldError(
                "STRING_TOO_LONG",
                f"{label}: data value too large: {str(value)[:40]} (max length={length})",
                [name],
            )

    def _active_user(self, user_id: str) -> bool:
        user = self.users.get(user_id) or next(
            (u for uid, u in self.users.items() if uid[:15] == user_id[:15]), None)
        return user is not None and bool(user.get("IsActive", True))

    def _check_duplicates(self, record_id: str, *, allow_save: bool) -> None:
        """Duplicate rules: an alert is saved only with `allowSave=true`; a block never is.

        The message is the one in the REST API Developer Guide's sObject Collections example.
        """
        flagged = record_id in self.faults.duplicate_blocks or (
            record_id in self.faults.duplicate_alerts and not allow_save
        )
        if flagged:
            raise _FieldError("DUPLICATES_DETECTED", "Use one of these records?")

    def _check_faults(self, record_id: str) -> None:
        locks = self.faults.lock_rows
        if record_id in locks:
            if isinstance(locks, dict):
                locks[record_id] -= 1
                if locks[record_id] <= 0:
                    del locks[record_id]
            raise _FieldError(
                "UNABLE_TO_LOCK_ROW",
                f"unable to obtain exclusive access to this record or 1 records: {record_id}",
            )
        message = self.faults.record_error(record_id)
        if message is not None:
            raise _FieldError("FIELD_CUSTOM_VALIDATION_EXCEPTION", message or _DEFAULT_VALIDATION_MESSAGE)
