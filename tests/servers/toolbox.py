"""A tiny real MCP server (stdio, the SDK's low-level Server) for the import and gateway tests.

Its tools come back two per page with `nextCursor` (the pagination `import mcp` must follow);
`crash` ends the process, `hang` never answers in time, `grow` adds a tool and sends
notifications/tools/list_changed. With TOOLBOX_TOKEN set it says so on stderr, value included:
what a careless server does, and what matchgraph must never repeat.

    python tests/servers/toolbox.py [--garbage N]   # N non-JSON-RPC lines on stdout first
    python tests/servers/toolbox.py --http PORT     # streamable HTTP at /mcp; with TOOLBOX_TOKEN set,
                                                    # only for 'Authorization: Bearer TOOLBOX_TOKEN'
"""

import os
import sys

import anyio
import mcp_types as types
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.stdio import stdio_server

PAGE = 2
TOOLS = {
    "add_numbers": ("Add two numbers and return their sum.",
                    {"a": {"type": "number"}, "b": {"type": "number"}}),
    "reverse_text": ("Reverse the characters of a piece of text.", {"text": {"type": "string"}}),
    "token_status": ("Tell whether the server was given its API token (never the token itself).", {}),
    "crash": ("Crash the server process on purpose.", {}),
    "hang": ("Sleep for a number of seconds before answering.", {"seconds": {"type": "number"}}),
    "grow": ("Add a new tool to this server and announce the change.", {"name": {"type": "string"}}),
}


def tool(name: str) -> types.Tool:
    description, properties = TOOLS[name]
    return types.Tool(name=name, description=description,
                      input_schema={"type": "object", "properties": properties, "required": list(properties)})


async def list_tools(ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    names = list(TOOLS)
    start = int(params.cursor) if params is not None and params.cursor else 0
    end = start + PAGE
    return types.ListToolsResult(tools=[tool(n) for n in names[start:end]],
                                 next_cursor=str(end) if end < len(names) else None)


def text(value: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=value)])


async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    args = params.arguments or {}
    if params.name == "add_numbers":
        return text(str(args["a"] + args["b"]))
    if params.name == "reverse_text":
        return text(args["text"][::-1])
    if params.name == "token_status":
        return text("token given" if os.environ.get("TOOLBOX_TOKEN") else "no token")
    if params.name == "crash":
        sys.stderr.write("toolbox: crashing on purpose\n")
        sys.stderr.flush()
        os._exit(3)
    if params.name == "hang":
        await anyio.sleep(float(args.get("seconds", 3600)))
        return text("awake")
    if params.name == "grow":
        TOOLS[args["name"]] = (f"A tool added at run time: {args['name']}.", {})
        await ctx.session.send_tool_list_changed()
        return text(f"added {args['name']}")
    if params.name in TOOLS:
        return text(f"{params.name} ran")
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"no tool {params.name}")], is_error=True)


def serve_http(server: Server, port: int) -> None:
    import uvicorn

    app = server.streamable_http_app(json_response=True, stateless_http=True)
    token = os.environ.get("TOOLBOX_TOKEN")

    async def guarded(scope, receive, send):
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and token and headers.get(b"authorization") != f"Bearer {token}".encode():
            await send({"type": "http.response.start", "status": 401, "headers": [(b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        await app(scope, receive, send)

    uvicorn.run(guarded, host="127.0.0.1", port=port, log_level="warning")


async def main() -> None:
    if "--garbage" in sys.argv:
        for number in range(int(sys.argv[sys.argv.index("--garbage") + 1])):
            print(f"garbage line {number}: starting up...", flush=True)
    if os.environ.get("TOOLBOX_TOKEN"):
        sys.stderr.write(f"toolbox: using token {os.environ['TOOLBOX_TOKEN']}\n")
        sys.stderr.flush()
    server = Server("toolbox", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)
    if "--http" in sys.argv:
        await anyio.to_thread.run_sync(serve_http, server, int(sys.argv[sys.argv.index("--http") + 1]))
        return
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options(NotificationOptions(tools_changed=True)))


if __name__ == "__main__":
    anyio.run(main)
