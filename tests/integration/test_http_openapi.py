"""The OpenAPI document and docs page describe the API from the models the handlers use.

Most checks walk every operation, so a route added later cannot go undocumented.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from dependency_injector import providers
from litestar.testing import TestClient
from openapi_spec_validator import validate

from flextype_core import PageMeta
from flextype_core.query.model import OPERATORS
from flextype_core.query.parse import ALIASES
from flextype_entrypoints.container import build_container
from flextype_entrypoints.http.app import create_app
from flextype_entrypoints.scaffold import create_project
from tests.unit.feed_fakes import FakeChangeLog

WRITES = ("post", "put", "patch", "delete")
FAMILIES = ("entries", "registry", "tokens", "media/files", "media/folders", "images", "changes")
Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    project = tmp_path_factory.mktemp("openapi") / "p"
    create_project(project, demo=False)
    container = build_container(project, {})
    # The feed is served where the storage keeps a change log.
    container.change_log.override(providers.Object(FakeChangeLog()))
    with TestClient(create_app(container)) as client:
        response = client.get("/schema/openapi.json")
        assert response.status_code == 200
        document: dict[str, Any] = response.json()
        yield document


def operations(schema: dict[str, Any]) -> list[Operation]:
    found = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    ]
    assert len(found) > 90
    return found


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def answer_of(schema: dict[str, Any], path: str, method: str = "get") -> list[dict[str, Any]]:
    """The 200 answer's JSON schema, as the list of its alternatives (resolved)."""
    ok = schema["paths"][path][method]["responses"]["200"]["content"]["application/json"]
    top = ok["schema"]
    return [resolve(schema, s) for s in top.get("anyOf", [top])]


def test_the_document_is_valid_openapi_3_1(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.1")
    validate(schema)


@pytest.mark.parametrize("prefix", ["/api", "/api/v0", "/api/v1"])
def test_every_family_is_documented_under_every_prefix(schema: dict[str, Any], prefix: str) -> None:
    for family in FAMILIES:
        assert any(path.startswith(f"{prefix}/{family}") for path in schema["paths"]), family
    for path in ("/entries/copy", "/tokens/copy", "/media/files/meta", "/media/folders/copy"):
        assert prefix + path in schema["paths"]
    assert set(schema["paths"][prefix + "/entries"]) == {"get", "post", "patch", "put", "delete"}


def test_the_api_description_names_every_family(schema: dict[str, Any]) -> None:
    text = schema["info"]["description"]
    names = ("Entries", "Registry", "Tokens", "Media files", "Media folders", "Images", "Changes")
    for name in names:
        assert f"**{name}**" in text
    for family in FAMILIES:
        assert f"/api/{family}" in text


def test_every_operation_has_a_summary_and_a_description(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        assert operation.get("summary"), (method, path)
        assert len(operation.get("description", "")) > 20, (method, path)


def test_every_write_documents_its_request_body(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        if method in WRITES:
            body = operation.get("requestBody")
            assert body is not None, (method, path)
            ((media_type, content),) = body["content"].items()
            assert media_type in {"application/json", "multipart/form-data"}, (method, path)
            assert resolve(schema, content["schema"])["properties"], (method, path)


def test_json_bodies_are_the_request_body_and_forms_are_named_in_the_description(
    schema: dict[str, Any],
) -> None:
    # One content type per body: generated clients pick the form when two are listed.
    for path, _method, operation in operations(schema):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            assert "application/x-www-form-urlencoded" in operation["description"], path
    create = schema["paths"]["/api/entries"]["post"]["requestBody"]
    assert create["required"] is True
    json_body = create["content"]["application/json"]
    assert json_body["schema"] == {"$ref": "#/components/schemas/EntryCreate"}
    assert set(schema["components"]["schemas"]["EntryCreate"]["required"]) == {"id", "data"}
    assert json_body["examples"]["seed"]["value"]["id"] == "movies/platform"
    move = schema["paths"]["/api/entries"]["put"]["requestBody"]["content"]["application/json"]
    assert move["schema"]["$ref"].endswith("/EntryMove")
    assert set(schema["components"]["schemas"]["EntryMove"]["required"]) == {"id", "new_id"}


def test_the_upload_is_a_multipart_body_with_a_binary_file(schema: dict[str, Any]) -> None:
    body = schema["paths"]["/api/media/files"]["post"]["requestBody"]["content"]
    upload = resolve(schema, body["multipart/form-data"]["schema"])
    assert upload["properties"]["file"] == {
        "type": "string",
        "format": "binary",
        "description": "The file.",
    }
    assert {"folder", "replace", "token", "access_token"} <= set(upload["properties"])
    assert upload["required"] == ["file"]


def test_public_routes_answer_no_token_errors_and_api_routes_do(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        statuses = set(operation["responses"])
        if path.startswith("/api/"):
            assert {"401", "429"} <= statuses, (method, path)
            assert operation["security"], (method, path)
            assert "429" in statuses and "Retry-After" in operation["responses"]["429"]["headers"]
        else:
            assert not {"401", "429"} & statuses, (method, path)
            assert not operation.get("security"), (method, path)


def test_every_error_answers_the_one_error_shape(schema: dict[str, Any]) -> None:
    error = {"$ref": "#/components/schemas/Error"}
    for path, _method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == error, (path, status)
    assert set(schema["components"]["schemas"]["Error"]["required"]) == {
        "success",
        "errors",
        "data",
        "message",
    }


def test_conditional_requests_are_documented_where_they_apply(schema: dict[str, Any]) -> None:
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if "304" in responses:
            # A read, or the one POST that only reads (queries in a body).
            assert method == "get" or path.endswith("/entries/query"), path
            assert "If-None-Match" in headers, path
            assert "ETag" in responses["200"]["headers"], path
        if "412" in responses:
            assert headers & {"If-Match", "If-None-Match"}, (method, path)
        if "If-Match" in headers:
            assert "412" in responses, (method, path)
    entries = schema["paths"]["/api/entries"]
    assert "304" in entries["get"]["responses"]
    for method in ("patch", "put", "delete"):
        assert "412" in entries[method]["responses"]
    assert "ETag" in entries["patch"]["responses"]["200"]["headers"]
    assert "503" in schema["paths"]["/api/images/{image_path}"]["get"]["responses"]
    assert "503" in schema["paths"]["/health"]["get"]["responses"]


def test_reads_document_their_query_parameters(schema: dict[str, Any]) -> None:
    def query(path: str) -> list[str]:
        parameters = schema["paths"][path]["get"]["parameters"]
        return [p["name"] for p in parameters if p["in"] == "query"]

    assert query("/api/entries") == ["id", "options", "token"]
    assert query("/api/registry") == ["id", "token"]
    assert {"w", "h", "fit", "fm", "s", "expires", "token"} <= set(
        query("/api/images/{image_path}")
    )


def test_the_change_feed_documents_its_parameters_answers_and_event_stream(
    schema: dict[str, Any],
) -> None:
    feed = schema["paths"]["/api/changes"]["get"]
    query = [p["name"] for p in feed["parameters"] if p["in"] == "query"]
    assert query == ["since", "limit", "wait", "id", "types", "token"]
    headers = {p["name"] for p in feed["parameters"] if p["in"] == "header"}
    assert {"Accept", "Last-Event-ID", "If-None-Match"} <= headers
    assert {"200", "304", "400", "401", "410", "429"} <= set(feed["responses"])
    assert "ResyncRequired" in feed["responses"]["410"]["description"]
    content = feed["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/event-stream"}
    page = resolve(schema, content["application/json"]["schema"])
    assert set(page["required"]) == {"data", "meta"}
    change = resolve(schema, page["properties"]["data"]["items"])
    assert set(change["required"]) == {"cursor", "op", "type", "id", "at"}
    assert {"from_id", "etag"} <= set(change["properties"])
    meta = resolve(schema, page["properties"]["meta"])
    assert set(meta["required"]) == {"next", "more"}


def test_collection_reads_document_the_changes_cursor_header(schema: dict[str, Any]) -> None:
    for path in ("/api/entries", "/api/media/files", "/api/media/folders"):
        assert "X-Changes-Cursor" in schema["paths"][path]["get"]["responses"]["200"]["headers"]
    assert (
        "X-Changes-Cursor"
        not in schema["paths"]["/api/registry"]["get"]["responses"]["200"]["headers"]
    )


def test_the_main_reads_answer_their_schemas(schema: dict[str, Any]) -> None:
    entry_answers = answer_of(schema, "/api/entries")
    collection = next(a for a in entry_answers if "meta" in a["properties"])
    assert set(collection["required"]) == {"data", "meta"}
    assert collection["properties"]["meta"] == {"$ref": "#/components/schemas/PageMeta"}
    one = next(a for a in entry_answers if a["properties"]["data"].get("$ref"))
    entry = resolve(schema, one["properties"]["data"])
    assert entry["required"] == ["id"]
    assert {"slug", "uuid", "created_at", "modified_at", "visibility"} <= set(entry["properties"])
    registry = answer_of(schema, "/api/registry")[0]["properties"]["data"]
    assert set(resolve(schema, registry)["required"]) == {"key", "value"}
    token = resolve(schema, answer_of(schema, "/api/tokens")[-1]["properties"]["data"])
    assert "calls" in token["properties"]
    assert "hashed_access_token" not in str(schema)
    media = resolve(schema, answer_of(schema, "/api/media/files")[-1]["properties"]["data"])
    assert set(media["required"]) == {"id", "url"}
    created = resolve(schema, answer_of(schema, "/api/tokens", "post")[0]["properties"]["data"])
    assert "access_token" in created["required"]


def test_collection_meta_is_the_model_the_handlers_answer(schema: dict[str, Any]) -> None:
    meta = schema["components"]["schemas"]["PageMeta"]
    assert set(meta["properties"]) == {f.name for f in msgspec.structs.fields(PageMeta)}


def test_the_operators_are_an_enum_with_a_line_each(schema: dict[str, Any]) -> None:
    options = schema["components"]["schemas"]["CollectionOptions"]
    where = resolve(schema, options["properties"]["filter"]["properties"]["where"]["items"])
    clause = resolve(schema, where["anyOf"][0])
    operator = resolve(schema, clause["properties"]["operator"])
    assert set(operator["enum"]) == set(OPERATORS) | set(ALIASES)
    lines = [line for line in operator["description"].splitlines() if line.startswith("- ")]
    assert [line.split("`")[1] for line in lines] == list(OPERATORS)
    assert "- `neq` (`!=`, `<>`): " in operator["description"]


def test_where_groups_nest_and_or_and_not_over_clauses(schema: dict[str, Any]) -> None:
    filter_ = schema["components"]["schemas"]["CollectionOptions"]["properties"]["filter"]
    condition = resolve(schema, filter_["properties"]["where"]["items"])
    kinds = [resolve(schema, alternative) for alternative in condition["anyOf"]]
    assert kinds[0]["required"] == ["key", "operator", "value"]
    for kind, name in zip(kinds[1:], ("or", "and", "not"), strict=True):
        assert kind["required"] == [name]
        assert kind["additionalProperties"] is False
    assert kinds[1]["properties"]["or"]["minItems"] == 1  # an empty group is 400
    assert kinds[1]["properties"]["or"]["items"] == filter_["properties"]["where"]["items"]
    assert kinds[3]["properties"]["not"] == filter_["properties"]["where"]["items"]
    assert "or" in condition["example"]
    assert "[where][0][or][0][key]=year" in _options_parameter(schema)["description"]


def test_search_cursors_and_their_answers_are_documented(schema: dict[str, Any]) -> None:
    options = schema["components"]["schemas"]["CollectionOptions"]
    search = resolve(schema, options["properties"]["search"])
    assert set(search["properties"]) == {"q", "fields", "score", "highlight"}
    assert search["required"] == ["q"] and search["example"]["q"] == "dune"
    after = options["properties"]["filter"]["properties"]["after"]
    assert after["type"] == "string" and "meta.next" in after["description"]
    for path, method in (("/api/entries", "get"), ("/api/entries/query", "post")):
        gone = schema["paths"][path][method]["responses"]["410"]["description"]
        assert "ResyncRequired" in gone and "walk" in gone
    assert "options[search][q]=" in _options_parameter(schema)["description"]
    assert "options[filter][after]=" in _options_parameter(schema)["description"]
    entry = schema["components"]["schemas"]["Entry"]["properties"]
    assert entry["_score"]["type"] == "number"
    assert entry["_highlight"]["additionalProperties"] == {"type": "string"}
    assert "next" in schema["components"]["schemas"]["PageMeta"]["properties"]
    ok = schema["paths"]["/api/entries"]["get"]["responses"]["200"]
    assert "Link" in ok["headers"] and 'rel="next"' in ok["headers"]["Link"]["description"]
    page = ok["content"]["application/json"]["examples"]["search"]["value"]
    assert page["meta"]["next"] and "<mark>" in page["data"][0]["_highlight"]["title"]
    assert "Link" not in schema["paths"]["/api/media/folders"]["get"]["responses"]["200"]["headers"]


def test_queries_in_a_body_are_a_documented_read(schema: dict[str, Any]) -> None:
    operation = schema["paths"]["/api/entries/query"]["post"]
    assert set(schema["paths"]["/api/entries/query"]) == {"post"}
    body = operation["requestBody"]
    assert body["required"] is True
    content = body["content"]["application/json"]
    model = resolve(schema, content["schema"])
    assert model["required"] == ["queries"]
    assert set(model["properties"]) == {"token", "queries"}  # a read: no access token
    queries = model["properties"]["queries"]
    assert (queries["minProperties"], queries["maxProperties"]) == (1, 50)
    assert queries["propertyNames"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"
    named = resolve(schema, queries["additionalProperties"])
    assert named["additionalProperties"] is False
    assert resolve(schema, named["properties"]["options"]) is resolve(
        schema, {"$ref": "#/components/schemas/CollectionOptions"}
    )
    example = content["examples"]["demo"]["value"]["queries"]
    assert example["home"] == {"id": "home"} and example["recent"]["options"]["collection"]
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert "If-None-Match" in headers
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["token"]
    responses = operation["responses"]
    assert {"200", "304", "400", "401", "404", "413", "429"} <= set(responses)
    assert {"ETag", "X-Changes-Cursor"} == set(responses["200"]["headers"])
    answer = resolve(schema, responses["200"]["content"]["application/json"]["schema"])
    assert answer["required"] == ["data", "meta"]
    assert set(answer["example"]["data"]) == set(answer["example"]["meta"])


def _options_parameter(schema: dict[str, Any]) -> dict[str, Any]:
    parameters = schema["paths"]["/api/entries"]["get"]["parameters"]
    found: dict[str, Any] = next(p for p in parameters if p["name"] == "options")
    return found


def test_media_files_and_images_answer_bytes(schema: dict[str, Any]) -> None:
    binary = {"schema": {"type": "string", "format": "binary"}}
    content = schema["paths"]["/media/{file_path}"]["get"]["responses"]["200"]["content"]
    assert content["application/octet-stream"] == binary
    image = schema["paths"]["/api/images/{image_path}"]["get"]["responses"]["200"]["content"]
    assert set(image) == {"image/jpeg", "image/png", "image/gif", "image/webp"}


# -- /docs ------------------------------------------------------------------------------------

_LINK = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)


def test_the_docs_page_and_every_asset_it_names_are_served_by_the_server(
    tmp_path: Path,
) -> None:
    create_project(tmp_path / "p", demo=False)
    with TestClient(create_app(build_container(tmp_path / "p", {}))) as client:
        page = client.get("/docs", follow_redirects=True)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        links = _LINK.findall(page.text)
        assert len(links) >= 4  # the bundle, the preset, the stylesheet, the icon
        kinds = {link.rsplit(".", 1)[-1] for link in links}
        assert {"js", "css", "png"} <= kinds
        for link in links:
            assert link.startswith("/") and not link.startswith("//"), link
            asset = client.get(link)
            assert asset.status_code == 200, link
            assert len(asset.content) > 500, link
        assert "https://" not in page.text.split("SwaggerUIBundle({", 1)[0]


def test_the_limits_are_documented_with_their_settings_and_statuses(
    schema: dict[str, Any],
) -> None:
    # Those of a connection (408, 431) come before any route: the description tells them.
    text = " ".join(schema["info"]["description"].split())
    assert "`server.max_header_size` is `431`" in text
    assert "`server.header_timeout`" in text and "`server.body_timeout`" in text
    assert "is `408`" in text
    errors = schema["paths"]["/api/entries"]["post"]["responses"]
    for setting in ("api.max_body_size", "api.max_entry_size", "media.max_file_size"):
        assert setting in errors["413"]["description"]
    assert "server.max_header_size" in errors["414"]["description"]
