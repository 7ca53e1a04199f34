"""Tool servers as users configure them (mcpServers JSON, import sources) and the MCP client
that starts or reaches one: shared by `import mcp` and the gateway."""
