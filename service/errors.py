"""stayaway's own exception tree. Third-party errors are translated at the boundary."""


class StayawayError(Exception):
    """Base of every error stayaway raises on purpose."""


class ConfigError(StayawayError):
    """A setting is missing or malformed."""


class InvalidInput(StayawayError):
    """A file or API body does not follow the contract; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(StayawayError):
    """The object asked for does not exist."""


class StorageError(StayawayError):
    """The database refused or failed an operation."""


class BrokerError(StayawayError):
    """The MQTT broker could not be reached or refused us."""


class StorageUnavailable(StorageError):
    """The database could not be reached or dropped the connection (a driver's operational error, mapped
    by the DB adapter): transient, the work is retried; nothing was committed."""


class Conflict(StayawayError):
    """The request clashes with the state stored (a stable ``code`` names the clash)."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


class Forbidden(StayawayError):
    """The principal may not do this (it may know that the object exists); ``code`` is stable (the API's
    error code: ``forbidden``, or a narrower one such as ``need_to_know``); ``field``, when the refusal
    follows from one field of the request (the court an order names)."""

    def __init__(self, message: str, code: str = "forbidden", field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.field = code, field
