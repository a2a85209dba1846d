"""The app: import "module:attr", detect its interface, compose several apps (--mount, --ws-app)."""
