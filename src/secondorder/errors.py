"""Error types for user mistakes: the command line prints their message, not a traceback."""


class ConfigError(ValueError):
    """A study config or run spec is malformed; the message names the key and what is allowed."""
