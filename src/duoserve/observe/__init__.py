"""What the server tells about itself: loggers, the access log, request ids, metrics."""
