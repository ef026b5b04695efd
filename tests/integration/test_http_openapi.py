"""The OpenAPI document and docs page describe the API from the models the handlers use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from openapi_spec_validator import validate

from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.scaffold import create_project


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    project = tmp_path_factory.mktemp("openapi") / "p"
    create_project(project, demo=False)
    with TestClient(create_app(build_container(project, {}))) as client:
        response = client.get("/schema/openapi.json")
        assert response.status_code == 200
        document: dict[str, Any] = response.json()
        yield document


def test_the_document_is_valid_openapi_3_1(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.1")
    validate(schema)


@pytest.mark.parametrize("prefix", ["/api", "/api/v0", "/api/v1"])
def test_every_family_is_documented_under_every_prefix(schema: dict[str, Any], prefix: str) -> None:
    for path in ("/entries", "/entries/copy", "/registry", "/tokens", "/tokens/copy"):
        assert prefix + path in schema["paths"]
    assert set(schema["paths"][prefix + "/entries"]) == {"get", "post", "patch", "put", "delete"}


def test_writes_document_json_and_form_bodies_from_the_handler_models(
    schema: dict[str, Any],
) -> None:
    create = schema["paths"]["/api/entries"]["post"]["requestBody"]["content"]
    assert set(create) == {"application/json", "application/x-www-form-urlencoded"}
    assert create["application/json"]["schema"] == {"$ref": "#/components/schemas/EntryCreate"}
    model = schema["components"]["schemas"]["EntryCreate"]
    assert set(model["required"]) == {"id", "data"}
    example = create["application/json"]["examples"]["seed"]["value"]
    assert example["id"] == "movies/platform"
    move = schema["paths"]["/api/entries"]["put"]["requestBody"]["content"]["application/json"]
    assert set(schema["components"]["schemas"]["EntryMove"]["required"]) == {"id", "new_id"}
    assert move["schema"]["$ref"].endswith("/EntryMove")


def test_reads_document_their_query_parameters_and_errors(schema: dict[str, Any]) -> None:
    fetch = schema["paths"]["/api/entries"]["get"]
    assert [p["name"] for p in fetch["parameters"]] == ["id", "token", "options"]
    assert fetch["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    registry = schema["paths"]["/api/registry"]["get"]
    assert [p["name"] for p in registry["parameters"]] == ["id", "token"]


def test_the_docs_page_leads_to_a_rendered_reference(tmp_path: Path) -> None:
    create_project(tmp_path / "p", demo=False)
    with TestClient(create_app(build_container(tmp_path / "p", {}))) as client:
        docs = client.get("/docs", follow_redirects=True)
        assert docs.status_code == 200
        assert "text/html" in docs.headers["content-type"]
        assert "redoc" in docs.text.lower()
