"""Installing, uninstalling and scaffolding plugins."""
