"""Sans-IO HTTP/2 over h2: the bounded server connection, its flood guard and h2c helpers."""
