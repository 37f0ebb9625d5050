"""Identity's exceptions, each mapped to one Keystone JSON error (status, title) in `views.error_body`.

DolmenError
 +-- IdentityError                 an identity request cannot be done as asked
      +-- ValidationError          400 the request body or query is malformed
      +-- Unauthorized             401 no valid credentials (wrong password, disabled user)
      |    +-- InvalidToken        401 a token that is malformed, tampered, expired or revoked
      +-- TooManyFailedLogins      429 failed logins from this user or address passed the limit
      +-- Forbidden                403 the policy refuses the caller this operation
      +-- EntityNotFound           404 no such domain, project, user, role, credential...
      +-- EntityConflict           409 a unique name is taken, or the entity is still in use
      +-- KeysUnavailable          503 the token keys are not in the store yet (no bootstrap)
      +-- ServiceBusy              503 too many password checks already in progress
"""

from __future__ import annotations

from dolmen.errors import DolmenError


class IdentityError(DolmenError):
    """An identity request that cannot be done as asked; `status` and `title` are Keystone's."""

    status = 500
    title = "Internal Server Error"


class ValidationError(IdentityError):
    status = 400
    title = "Bad Request"


class Unauthorized(IdentityError):
    status = 401
    title = "Unauthorized"


class InvalidToken(Unauthorized):
    """A token that does not decrypt under any current key, is malformed, expired or revoked."""


class TooManyFailedLogins(IdentityError):
    """Failed logins for this user or from this address passed the configured limit."""

    status = 429
    title = "Too Many Requests"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Forbidden(IdentityError):
    status = 403
    title = "Forbidden"


class EntityNotFound(IdentityError):
    status = 404
    title = "Not Found"


class EntityConflict(IdentityError):
    status = 409
    title = "Conflict"


class KeysUnavailable(IdentityError):
    """No Fernet key repository in the store: identity has not been bootstrapped."""

    status = 503
    title = "Service Unavailable"


class ServiceBusy(IdentityError):
    """More password checks are running and waiting than configured: refuse rather than queue."""

    status = 503
    title = "Service Unavailable"
