"""The edges: HTTP and websocket server, auth, settings, CLI."""
