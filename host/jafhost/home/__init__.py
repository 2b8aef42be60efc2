"""Everything under ``$JAFHOST_HOME``: its layout, the state file and config.toml."""
