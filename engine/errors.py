"""The engine's one root error; its messages are safe to show to users."""


class EngineError(Exception):
    """Anything the writer refuses or fails to do."""


class CheckpointError(EngineError):
    """A checkpoint folder is missing, truncated or inconsistent; the message names the file."""


class DataError(EngineError):
    """Training or evaluation text is unusable (empty, not UTF-8, ...)."""
