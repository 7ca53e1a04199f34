"""The engine: one object every face (CLI, HTTP API, MCP, pages) calls; its state kept
current, the read side, indexing, the event log, subgraph cuts and argument rules."""
