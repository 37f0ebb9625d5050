"""Identity: a Keystone v3 subset (users, projects, roles, tokens, catalog, EC2 credentials).

What other services import:

    validator = await TokenValidator.open(client, refresh_interval_s=2.0)
    context: AuthContext = validator.validate(token)      # local; raises InvalidToken
    await validator.close()
    Policy.default() / Policy.load(path); policy.enforce(rule, context, target) -> bool
    reader = await Ec2CredentialReader.open(client)        # EC2 (S3) credentials, for the S3 listener
    credential: Ec2Credential | None = await reader.find(access_key)
"""

from dolmen.identity.ec2 import Ec2Credential, Ec2CredentialReader
from dolmen.identity.errors import InvalidToken
from dolmen.identity.policy import Policy
from dolmen.identity.validator import AuthContext, TokenValidator

__all__ = ["AuthContext", "Ec2Credential", "Ec2CredentialReader", "InvalidToken", "Policy", "TokenValidator"]
