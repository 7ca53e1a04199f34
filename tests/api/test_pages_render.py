"""What the pages render from the catalog's call fields: a JSON Schema's arguments as rows."""

from __future__ import annotations

from api.web import schema_rows, schema_type


def test_schema_rows_flatten_an_operations_parameters_with_types_and_required():
    schema = {"type": "object", "required": ["path"], "properties": {
        "path": {"type": "object", "required": ["petId"],
                 "properties": {"petId": {"type": "integer", "format": "int64", "description": "id of the pet"}}},
        "query": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}},
                                                   "limit": {"type": ["integer", "null"], "default": 20}}},
        "body": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "sort": {"enum": ["asc", "desc"]}}}
    rows = {r["name"]: r for r in schema_rows(schema)}
    assert list(rows) == ["path", "path.petId", "query", "query.tags", "query.limit", "body", "sort"]
    assert (rows["path"]["required"], rows["path.petId"]["required"], rows["query"]["required"]) == (True, True, False)
    assert rows["path.petId"]["type"] == "integer (int64)" and rows["path.petId"]["description"] == "id of the pet"
    assert rows["query.tags"]["type"] == "array of string"
    assert rows["query.limit"]["type"] == "integer | null" and rows["query.limit"]["default"] == 20
    assert rows["body"]["type"] == "string | null" and rows["sort"]["type"] == "one of asc, desc"


def test_a_schema_without_properties_has_no_rows():
    assert schema_rows({}) == [] and schema_rows({"type": "object"}) == []
    assert schema_type({}) == "any"
