"""The field lists of reconciler.model are the one list of each kind of live field, and the schema,
the file format and the emulator's deliberate copies agree with them."""

from __future__ import annotations

from reconciler import emulator
from reconciler.model import (
    NOT_SETTINGS,
    OBJECT_FIELDS,
    READ_ONLY_FIELDS,
    SECRET_FIELDS,
    WRITE_ONLY_FIELDS,
)
from reconciler.validate import load_schema, settings_names


def test_settings_are_the_schemas_and_none_is_unmanageable() -> None:
    assert settings_names() == tuple(load_schema()["properties"]["settings"]["properties"])
    assert not set(settings_names()) & NOT_SETTINGS


def test_secrets_are_the_schemas_secrets() -> None:
    assert set(load_schema()["properties"]["secrets"]["properties"]) == set(SECRET_FIELDS)
    assert {f"{name}_configured" for name in SECRET_FIELDS} <= READ_ONLY_FIELDS


def test_object_fields_are_object_settings() -> None:
    schema = load_schema()
    for name in OBJECT_FIELDS:
        node = schema["properties"]["settings"]["properties"][name]
        while "$ref" in node:
            node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
        kinds = node.get("type")
        assert kinds == "object" or "object" in kinds, name


def test_not_settings_is_read_only_secrets_and_write_only() -> None:
    assert READ_ONLY_FIELDS | set(SECRET_FIELDS) | WRITE_ONLY_FIELDS == NOT_SETTINGS
    assert "organization_id" in WRITE_ONLY_FIELDS


def test_the_emulators_read_only_copy_is_among_ours() -> None:
    """The emulator's copy is deliberate (it stands for the server); the server's read-only fields
    are read-only for the tool too."""
    assert emulator.READ_ONLY_FIELDS <= READ_ONLY_FIELDS
