import pytest
from dolmen.storage_node.errors import BadRequest, MethodNotAllowed
from dolmen.storage_node.verbs import EXTENSION_VERBS, request_role, request_verb, wire_form


@pytest.mark.parametrize("verb", ["PUT", "GET", "HEAD", "DELETE", "POST", *EXTENSION_VERBS])
def test_every_verb_survives_its_wire_form(verb):
    method, headers = wire_form(verb)
    assert method in ("PUT", "GET", "HEAD", "DELETE", "POST")
    assert request_verb(method, headers) == verb


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("PATCH", {}),
        ("PREPARE", {}),
        ("GET", {"X-Backend-Verb": "PREPARE"}),
        ("POST", {"X-Backend-Verb": "READ"}),
        ("POST", {"X-Backend-Verb": "prepare"}),
        ("POST", {"X-Backend-Verb": ""}),
    ],
)
def test_verbs_off_their_method_are_refused(method, headers):
    with pytest.raises(MethodNotAllowed):
        request_verb(method, headers)


def test_the_role_defaults_to_object_and_unknown_roles_are_bad_requests():
    assert request_role({}) == "object"
    assert request_role({"X-Backend-Role": "container"}) == "container"
    with pytest.raises(BadRequest):
        request_role({"X-Backend-Role": "Object"})
