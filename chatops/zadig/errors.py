"""The one exception tree the Zadig client raises (callers never inspect status codes or dicts).

    ZadigError
    ├── ZadigAuthError        401/403: token rejected or its user lacks permission
    ├── ZadigAPIError         Zadig answered with an error (.code, .message, .description)
    │   └── ZadigNotFound     unknown task / workflow / environment / path
    └── ZadigUnavailable      cannot reach Zadig (refused, DNS, reset, 502/503/504)
        └── ZadigTimeout      Zadig did not answer in time

Messages never contain the API token.
"""

from __future__ import annotations

from typing import Optional

# What a failed mongo lookup says; Zadig reports it as HTTP 500 (unknown task or environment),
# inside 6542 (unknown workflow) or inside 6163 (cancel of an unknown task).
NO_DOCUMENTS = "mongo: no documents in result"


class ZadigError(Exception):
    def __init__(self, message: str, *, status_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ZadigAuthError(ZadigError):
    """Zadig's gateway (401) or a handler's RBAC check (403) refused the token.

    The body is empty.
    """


class ZadigAPIError(ZadigError):
    """An error envelope: `code` is Zadig's code (6163, 6542, 500, 400 ...), `message` its title."""

    def __init__(
        self, code: int, message: str, description: str = "", *, status_code: Optional[int] = None
    ) -> None:
        detail = f": {description}" if description else ""
        super().__init__(f"Zadig error {code} {message.strip()}{detail}", status_code=status_code)
        self.code = code
        self.message = message
        self.description = description

    @property
    def is_already_finished(self) -> bool:
        """Cancel refused because the task already passed.

        Passed is the only status Zadig will not cancel.
        """
        return self.code == 6163 and "is passed" in self.description


class ZadigNotFound(ZadigAPIError):
    """The task, workflow or environment does not exist (Zadig says so with 500/400, not 404)."""


class ZadigUnavailable(ZadigError):
    """Zadig could not be reached, or did not answer.

    ``request_sent`` is False only when the request certainly never left (connection refused,
    DNS, connect timeout). Otherwise (read error, timeout, a proxy's 502/503/504) Zadig may have
    acted on it: a trigger may have created a task.
    """

    def __init__(
        self, message: str, *, status_code: Optional[int] = None, request_sent: bool = True
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.request_sent = request_sent


class ZadigTimeout(ZadigUnavailable):
    """Zadig did not answer within the client's timeout."""
