"""HTTP/1.1: parser-neutral events, the codec interface, framing rules and the ASGI cycle."""
