"""The client library of the WM server (SPEC.md Part II): what the CLI, LSP and MCP use."""
