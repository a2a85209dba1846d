"""Sans-IO HTTP/1.1: parser-neutral events, the codec interface, head and framing rules."""
