"""Identity: a Keystone v3 subset (users, projects, roles, tokens, catalog, EC2 credentials).

What other services import:

    validator = await TokenValidator.open(client, refresh_interval_s=2.0)
    context: AuthContext = validator.validate(token)      # local; raises InvalidToken
    await validator.close()
    Policy.default() / Policy.load(path); policy.enforce(rule, context, target) -> bool
"""

from dolmen.identity.errors import InvalidToken
from dolmen.identity.policy import Policy
from dolmen.identity.validator import AuthContext, TokenValidator

__all__ = ["AuthContext", "InvalidToken", "Policy", "TokenValidator"]
