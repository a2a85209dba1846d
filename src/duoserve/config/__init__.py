"""Settings: one declaration each; CLI flags, environment, TOML file and checks derive from it."""
