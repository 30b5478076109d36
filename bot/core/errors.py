"""The core's one root error. Its message is written for the member who caused it."""


class RelayError(Exception):
    """A command was refused; `str(error)` is a clear message safe to show in the chat."""


class NotAllowed(RelayError):
    """A member tried a moderator action."""
