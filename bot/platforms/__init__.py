"""Platform adapters: thin translators between a chat service and the relay core."""
