"""`matchgraph import` on real sources (fixtures/import, see fixtures/README.md): Hugging Face model
infos and cards, the official MCP registry seed, OpenAPI examples; errors that name the place
and write nothing; stable ids across re-imports; the second demo (MongoDB first)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES
from typer.testing import CliRunner

from matchgraph import Engine
from matchgraph.cli import app
from matchgraph.core.catalog import load_catalog
from matchgraph.importers import ImportFailed, import_catalog, read_sources

IMPORT = FIXTURES / "import"
SEED = IMPORT / "mcp-registry-seed-2025-05-16.json"
OPENAPI = [IMPORT / "petstore-expanded-3.0.yaml", IMPORT / "petstore-swagger-2.0.json",
           IMPORT / "webhook-example-3.1.yaml"]
MONGODB = "io.github.mongodb-js/mongodb-mcp-server"
MONGODB_SERVERS = {MONGODB, "io.github.furey/mongodb-lens", "io.github.kiliczsh/mcp-mongo-server"}
EMPTY_ENTRIES = [15, 25, 108, 132, 188, 207, 406]  # the seed's entries with every field blank
MONGODB_NEED = "let my assistant query a MongoDB database"


def by_id(path: Path) -> dict[str, dict]:
    return {a.id: a.model_dump(mode="json") for a in load_catalog([path])}


# -- hf -----------------------------------------------------------------------------------------
def test_hf_model_infos_and_cards(tmp_path):
    out = tmp_path / "hf.jsonl"
    summary = import_catalog("hf", [str(IMPORT / "hf-models.json")], out, cards=IMPORT / "hf-cards")
    assert summary["artifacts"] == 4 and summary["skipped"] == []
    models = by_id(out)
    wmt = models["facebook/wmt19-de-en"]
    assert (wmt["kind"], wmt["task"], wmt["license"], wmt["provider"]) == ("model", "translation", "apache-2.0",
                                                                         "facebook")
    main = wmt["capabilities"][0]
    assert (main["id"], main["inputs"], main["outputs"]) == ("translation", ["text"], ["text"])
    assert main["description"].startswith("This is a ported version of fairseq wmt19 transformer")
    # languages and intended uses describe when to use it; limitations are not a capability
    assert main["best_for"] == "Languages: de, en."
    assert "repeated sub-phrases" in main["vs_alternatives"]
    assert len(wmt["capabilities"]) == 1  # how-to, training data, eval results, TODO are not capabilities
    assert wmt["signals"]["integrations"] == ["transformers"]
    dialog = models["microsoft/DialoGPT-medium"]["capabilities"][0]
    assert dialog["id"] == "conversational" and dialog["description"].startswith("DialoGPT is a SOTA")
    assert "import torch" not in dialog["description"]  # code blocks are not prose
    assert models["facebook/bart-large-mnli"]["signals"]["datasets"] == ["multi_nli"]
    # wmt19's card lists a URL with a markdown link under datasets: not a dataset id, left out
    assert "datasets" not in wmt["signals"]
    assert models["facebook/bart-large-cnn"]["license"] == "mit"


def test_hf_sections_and_signals(tmp_path):
    """A card whose sections say more than one thing the model does (a small card written here,
    in the Hub's layout) and a model info carrying every signal the Hub API returns."""
    cards = tmp_path / "cards" / "org" / "layout-reader"
    cards.mkdir(parents=True)
    (cards / "README.md").write_text(
        "---\nlanguage: [en, fr]\nlicense: cc-by-4.0\n---\n# layout-reader\n\n"
        "Reads scanned business documents and returns their text with the position of every word on the page.\n\n"
        "## Table extraction\n\nFinds the tables in a scanned page and returns each cell with its row and column,"
        " so spreadsheets can be rebuilt from paper forms.\n\n"
        "## Intended uses\n\nInvoices, receipts and forms.\n\n"
        "## Limitations\n\nHandwriting is not supported.\n\n"
        "## Training\n\nTrained on a large set of scanned documents collected over several years by the team.\n\n"
        "## How to use\n\n```python\nprint('hi')\n```\n", encoding="utf-8")
    info = {"id": "org/layout-reader", "pipeline_tag": "image-to-text", "library_name": "transformers",
            "tags": ["ocr", "license:cc-by-4.0", "dataset:funsd", "base_model:org/base"],
            "downloads": 1234, "likes": 56, "lastModified": "2024-05-01T10:00:00.000Z",
            "createdAt": "2023-01-02T03:04:05.000Z", "gated": "auto"}
    listing = tmp_path / "models.jsonl"
    listing.write_text(json.dumps(info) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    import_catalog("hf", [str(listing)], out, cards=tmp_path / "cards")
    model = by_id(out)["org/layout-reader"]
    assert [c["id"] for c in model["capabilities"]] == ["image-to-text", "table-extraction"]
    main, table = model["capabilities"]
    assert main["description"].startswith("Reads scanned business documents")
    assert (main["inputs"], main["outputs"]) == (["image"], ["text"])
    assert main["best_for"] == "Invoices, receipts and forms. Languages: en, fr."
    assert main["vs_alternatives"] == "Limitations: Handwriting is not supported."
    assert table["title"] == "Table extraction" and "row and column" in table["description"]
    assert model["signals"] == {"downloads": 1234, "likes": 56, "updated_at": "2024-05-01T10:00:00.000Z",
                                "released_at": "2023-01-02T03:04:05.000Z", "integrations": ["transformers"],
                                "datasets": ["funsd"], "base_model": ["org/base"], "gated": "auto"}
    assert model["license"] == "cc-by-4.0" and model["tags"] == ["ocr", "gated"]


# -- mcp-registry -------------------------------------------------------------------------------
def test_mcp_registry_seed(tmp_path):
    out = tmp_path / "seed.jsonl"
    summary = import_catalog("mcp-registry", [str(SEED)], out)
    assert summary["artifacts"] == 464 and summary["capabilities"] == 464  # 471 entries, 7 of them blank
    assert summary["skipped"] == [f"{SEED}: [{i}]: no `name` (an empty entry)" for i in EMPTY_ENTRIES]
    servers = by_id(out)
    mongo = servers[MONGODB]
    assert (mongo["kind"], mongo["url"], mongo["provider"]) == ("tool", "https://github.com/mongodb-js/"
                                                               "mongodb-mcp-server", "mongodb-js")
    assert mongo["signals"]["integrations"] == ["npm:mongodb-mcp-server"]
    assert mongo["capabilities"][0]["description"].startswith("A Model Context Protocol server to connect to MongoDB")
    cloudflare = servers["io.github.cloudflare/mcp-server-cloudflare"]["signals"]["integrations"]
    assert cloudflare == ["npm:@cloudflare/mcp-server-cloudflare", "sse:https://observability.mcp.cloudflare.com/sse",
                          "sse:https://bindings.mcp.cloudflare.com/sse"]


def test_mcp_registry_current_schema_and_api_response(tmp_path):
    """server.json in the published schema, wrapped as the registry API returns it, with two
    versions of one server: only the latest is kept, the other is reported."""
    def server(version: str, latest: bool) -> dict:
        return {"server": {"$schema": "https://static.modelcontextprotocol.io/schemas/2025-09-29/server.schema.json",
                           "name": "io.github.example/weather", "title": "Weather",
                           "description": "Forecasts and current conditions for any city.", "version": version,
                           "repository": {"url": "https://github.com/example/weather", "source": "github"},
                           "packages": [{"registryType": "pypi", "identifier": "weather-mcp", "version": version,
                                         "transport": {"type": "stdio"}}],
                           "remotes": [{"type": "streamable-http", "url": "https://weather.example/mcp"}]},
                "_meta": {"io.modelcontextprotocol.registry/official": {
                    "isLatest": latest, "publishedAt": "2025-10-0%sT00:00:00Z" % version[-1]}}}
    response = tmp_path / "servers.json"
    gone = server("0.1.0", True)
    gone["server"]["name"] = "io.github.example/retired"
    gone["_meta"]["io.modelcontextprotocol.registry/official"]["status"] = "deleted"
    response.write_text(json.dumps({"servers": [server("1.2.0", True), server("1.1.0", False), gone],
                                     "metadata": {"count": 3}}), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    summary = import_catalog("mcp-registry", [str(response)], out)
    assert summary["skipped"] == [f"{response}: servers[1].server: io.github.example/weather 1.1.0: an older version",
                                  f"{response}: servers[2].server: io.github.example/retired: deleted from the registry"]
    assert summary["artifacts"] == 1
    weather = by_id(out)["io.github.example/weather"]
    assert weather["name"] == "Weather" and weather["signals"]["version"] == "1.2.0"
    assert weather["signals"]["integrations"] == ["pypi:weather-mcp", "streamable-http:https://weather.example/mcp"]
    assert set(weather["tags"]) == {"mcp-server", "pypi", "stdio", "streamable-http"}


# -- openapi ------------------------------------------------------------------------------------
def test_openapi_examples(tmp_path):
    out = tmp_path / "api.jsonl"
    summary = import_catalog("openapi", [str(p) for p in OPENAPI], out)
    assert summary["skipped"] == [f"{OPENAPI[2]}: webhooks.newPet: a webhook is sent by the API, not called on it"]
    apis = by_id(out)
    petstore = apis["swagger-petstore"]
    assert (petstore["kind"], petstore["url"], petstore["license"]) == ("api", "http://petstore.swagger.io/api",
                                                                      "Apache 2.0")
    ops = {c["id"]: c for c in petstore["capabilities"]}
    assert list(ops) == ["findPets", "addPet", "find-pet-by-id", "deletePet"]
    assert ops["addPet"]["inputs"] == ["name", "tag"]  # the request body's $ref, resolved
    assert ops["findPets"]["inputs"] == ["tags", "limit"] and ops["findPets"]["unique"] == "GET /pets"
    assert ops["find-pet-by-id"]["title"] == "Find pet by id"
    swagger = apis["swagger-petstore-petstore-swagger-2.0"]  # same title, told apart by its file
    assert swagger["url"] == "http://petstore.swagger.io/api" and "swagger-2.0" in swagger["tags"]
    assert swagger["capabilities"][0]["description"] == "finds pets in the system Tags: Pet Operations."
    assert apis["webhook-example"]["capabilities"][0]["inputs"] == ["limit"]


# -- errors: the place, and nothing written ----------------------------------------------------
@pytest.mark.parametrize("fmt, name, text, expected", [
    ("mcp-registry", "broken.json", '[\n  {"name": "a",\n   "packages": [}\n]', "broken.json: line 3 column 17: not valid JSON"),
    ("mcp-registry", "servers.json", json.dumps({"servers": [{"name": "x/a"}, {"name": "x/b", "packages": ["npm"]}]}),
     "servers.json: servers[1].packages[0]: expected an object, got str"),
    ("mcp-registry", "nameless.json", json.dumps([{"name": "x/a", "packages": [{"version": "1"}]}]),
     "nameless.json: [0].packages[0]: needs `identifier`"),
    ("openapi", "bad-ref.yaml", "openapi: 3.0.0\ninfo: {title: T, version: '1'}\npaths:\n  /x:\n    get:\n"
     "      parameters:\n        - $ref: '#/components/parameters/Nope'\n      responses: {}\n",
     "bad-ref.yaml: paths./x.get.parameters[0]: cannot resolve $ref '#/components/parameters/Nope'"),
    ("openapi", "remote-ref.yaml", "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths:\n  /x:\n    get:\n"
     "      parameters:\n        - $ref: 'https://example.com/p.yaml#/P'\n      responses: {}\n",
     "only references inside the document or to local files are resolved"),
    ("openapi", "not-openapi.yaml", "openapi: 2.5\n", "not an OpenAPI 3.0/3.1 or Swagger 2.0 document"),
    ("openapi", "bad.yaml", "openapi: 3.0.0\npaths:\n  /x: [\n", "bad.yaml: line 4 column 1: not valid YAML"),
    ("hf", "models.jsonl", '{"id": "a/b"}\n{"id": \n', "models.jsonl: line 2: not valid JSON"),
    ("hf", "models.json", json.dumps([{"id": "a/b"}, {"pipeline_tag": "translation"}]),
     "models.json: [1]: needs `id`"),
])
def test_bad_sources_name_the_place_and_write_nothing(tmp_path, fmt, name, text, expected):
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "catalog.jsonl"
    out.write_text("previous catalog\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as caught:
        import_catalog(fmt, [str(source)], out)
    assert expected in str(caught.value)
    assert out.read_text(encoding="utf-8") == "previous catalog\n"
    assert {p.name for p in tmp_path.iterdir()} == {name, "catalog.jsonl"}  # no temporary file left


def test_bad_card_front_matter_names_its_line(tmp_path):
    card = tmp_path / "cards" / "a" / "b" / "README.md"
    card.parent.mkdir(parents=True)
    card.write_text("---\nlicense: mit\ntags: [x\n---\ntext\n", encoding="utf-8")
    (tmp_path / "m.json").write_text('[{"id": "a/b"}]', encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"README.md: line \d+: front matter is not valid YAML"):
        read_sources("hf", [str(tmp_path / "m.json")], cards=tmp_path / "cards")


def test_records_are_validated_as_index_validates(tmp_path):
    """A record the catalog schema refuses (here: a server name with a space) is reported with its
    source place, through load_catalog, and nothing is written."""
    source = tmp_path / "s.json"
    source.write_text(json.dumps([{"name": "io.github.x/has space", "description": "d"}]), encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"s.json: \[0\]: id: Value error, id must not contain spaces"):
        import_catalog("mcp-registry", [str(source)], tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists() and len(list(tmp_path.iterdir())) == 1


def test_cli_import_prints_what_it_made(tmp_path):
    runner = CliRunner()
    out = tmp_path / "api.jsonl"
    result = runner.invoke(app, ["import", "openapi", *map(str, OPENAPI), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 3 artifacts, 6 capabilities" in result.output and "skipped" in result.output
    assert "webhooks.newPet" in result.output
    as_json = runner.invoke(app, ["import", "openapi", str(OPENAPI[0]), "-o", str(out), "--json"])
    assert json.loads(as_json.stdout)["artifacts"] == 1
    bad = runner.invoke(app, ["import", "yaml", str(OPENAPI[0]), "-o", str(out)])
    assert bad.exit_code == 2 and "'yaml' is not one of hf, mcp-registry, mcp, openapi" in bad.output


# -- index: stable ids, only changed texts embedded; the second demo ---------------------------
@pytest.mark.slow
def test_seed_reimport_embeds_only_changes_and_finds_mongodb(tmp_path, model):
    out = tmp_path / "seed.jsonl"
    import_catalog("mcp-registry", [str(SEED)], out)
    home = tmp_path / "home"
    engine = Engine(home)
    first = engine.index([out])
    assert first["embedded"] == 464
    top = [r.artifact_id for r in engine.search(MONGODB_NEED, k=5, record=False).results]
    assert top[0] in MONGODB_SERVERS and MONGODB in top[:3], top

    changed = tmp_path / "seed-changed.json"
    servers = json.loads(SEED.read_text(encoding="utf-8"))
    redis = next(s for s in servers if s["name"] == "io.github.redis/mcp-redis")
    redis["description"] = "Redis as a cache, a vector store and a message queue for agents."
    changed.write_text(json.dumps(servers), encoding="utf-8")
    import_catalog("mcp-registry", [str(changed)], out)
    second = engine.index([out])
    engine.close()
    assert (second["artifacts"], second["embedded"], second["cached"]) == (464, 1, 463)


def test_imported_catalogs_index_together(tmp_path, model):
    """hf, openapi and mcp-registry outputs side by side in one catalog folder."""
    folder = tmp_path / "catalog"
    import_catalog("hf", [str(IMPORT / "hf-models.json")], folder / "hf.jsonl", cards=IMPORT / "hf-cards")
    import_catalog("openapi", [str(p) for p in OPENAPI], folder / "apis.jsonl")
    engine = Engine(tmp_path / "home")
    summary = engine.index([folder])
    assert (summary["artifacts"], summary["capabilities"]) == (7, 10)
    assert engine.search("translate German text into English", k=3, record=False).results[0].artifact_id \
        == "facebook/wmt19-de-en"
    assert engine.search("add a new pet to the store", k=3, record=False).results[0].matched_capability == "addPet"
    engine.close()
