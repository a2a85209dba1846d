"""The network edge's rules for HTTP: trusted-proxy resolution and static files."""
