"""Which class each failed request raises, and what a refusal's Status object tells."""

from __future__ import annotations

import json

import pytest

from multus.kube.errors import (
    ApiError,
    Conflict,
    Forbidden,
    Gone,
    Invalid,
    NotFound,
    Unavailable,
    error_for,
    unanswered,
)

# What the API server answered to a merge patch carrying another UID (kube-apiserver 1.3x).
UID_REFUSAL = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": 'Pod "p1" is invalid: metadata.uid: Invalid value: "abc": field is immutable',
    "reason": "Invalid",
    "details": {
        "name": "p1",
        "kind": "Pod",
        "causes": [
            {"reason": "FieldValueInvalid", "message": 'Invalid value: "abc"', "field": "metadata.uid"},
            {"reason": "FieldValueInvalid", "message": 'Invalid value: "abc"', "field": "metadata.uid"},
        ],
    },
    "code": 422,
}


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ApiError),
        (401, Forbidden),
        (403, Forbidden),
        (404, NotFound),
        (405, ApiError),
        (409, Conflict),
        (410, Gone),
        (422, Invalid),
        (429, Unavailable),
        (500, Unavailable),
        (503, Unavailable),
        (504, Unavailable),
    ],
)
def test_each_status_raises_its_class(status: int, kind: type[ApiError]) -> None:
    error = error_for(status, "Reason")
    assert type(error) is kind
    assert (error.status, str(error)) == (status, f"{status} Reason")


def test_an_invalid_answer_names_the_fields_at_fault() -> None:
    error = error_for(422, "Unprocessable Entity", json.dumps(UID_REFUSAL))
    assert isinstance(error, Invalid)
    assert error.fields == {"metadata.uid"}
    assert error.details["kind"] == "Pod"


@pytest.mark.parametrize("body", ["", "<html>proxy error</html>", "[]", '{"details": "none"}'])
def test_an_answer_without_a_status_object_has_no_details(body: str) -> None:
    error = error_for(422, "Unprocessable Entity", body)
    assert isinstance(error, Invalid)
    assert (error.details, error.fields) == ({}, frozenset())


def test_no_answer_is_unavailable_without_a_status() -> None:
    refused = unanswered(ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"))
    assert (type(refused), refused.status) == (Unavailable, None)
    assert str(refused) == "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    assert str(unanswered(TimeoutError())) == "TimeoutError"  # a timeout says nothing of itself
