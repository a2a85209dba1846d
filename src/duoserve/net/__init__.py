"""Sockets and I/O beneath the protocols: binding, transports, TLS, the PROXY protocol."""
