"""Which server and which verb a request addresses, pure: method and headers in, names out.

The node serves three keyspaces on the same devices, as Swift's three servers do;
`X-Backend-Role` names one (absent: object). Extension verbs travel in
`X-Backend-Verb` over a standard method, because HTTP parsers (llhttp among
them) refuse extension methods. Both headers are `X-Backend-*` headers, so the
request signature covers them. See PROTOCOL.md, "Roles and extension verbs".
"""

from __future__ import annotations

from collections.abc import Mapping

from dolmen.storage_node.errors import BadRequest, MethodNotAllowed

ROLE_HEADER = "X-Backend-Role"
VERB_HEADER = "X-Backend-Verb"

ROLES = ("object", "container", "account")
STANDARD_VERBS = ("PUT", "GET", "HEAD", "DELETE", "POST")
REGISTER_VERBS = ("PREPARE", "ACCEPT", "READ")
# Extension verb -> the method it travels over.
EXTENSION_VERBS: Mapping[str, str] = {
    "REPLICATE": "POST",
    "PREPARE": "POST",
    "ACCEPT": "POST",
    "READ": "GET",
    "UPDATE": "POST",
    "LOOKUP": "POST",
}
VERBS = (*STANDARD_VERBS, *EXTENSION_VERBS)
assert set(REGISTER_VERBS) <= set(EXTENSION_VERBS)


def request_role(headers: Mapping[str, str]) -> str:
    """The keyspace a request addresses; BadRequest for an unknown role."""
    role = headers.get(ROLE_HEADER, "object")
    if role not in ROLES:
        raise BadRequest(f"{ROLE_HEADER} must be one of {', '.join(ROLES)}")
    return role


def request_verb(method: str, headers: Mapping[str, str]) -> str:
    """The verb a request carries: the method, or the extension verb it carries.

    MethodNotAllowed for a method the node does not serve, an unknown extension
    verb, or an extension verb over another method than its own.
    """
    verb = headers.get(VERB_HEADER)
    if verb is None:
        if method not in STANDARD_VERBS:
            raise MethodNotAllowed(f"{method[:32]} is not a storage node verb")
        return method
    if EXTENSION_VERBS.get(verb) != method:
        raise MethodNotAllowed(f"{VERB_HEADER}: {verb[:32]} does not travel over {method[:32]}")
    return verb


def wire_form(verb: str) -> tuple[str, dict[str, str]]:
    """The method and extra headers that carry `verb` (for clients of the node)."""
    method = EXTENSION_VERBS.get(verb)
    if method is None:
        assert verb in STANDARD_VERBS, verb
        return verb, {}
    return method, {VERB_HEADER: verb}
