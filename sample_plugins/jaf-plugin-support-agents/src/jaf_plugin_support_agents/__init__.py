"""Support and billing agents for jafhost, built from other plugins' tools."""
