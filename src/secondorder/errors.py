"""Error types for user mistakes: the command line prints their message, not a traceback."""


class ConfigError(ValueError):
    """A study config or run spec is malformed; the message names the key and what is allowed."""


class DataError(Exception):
    """A dataset or bundle is missing or unusable; the message says where and what to do."""


class DeviceError(RuntimeError):
    """The requested device cannot be used; the message says why and what to do."""
