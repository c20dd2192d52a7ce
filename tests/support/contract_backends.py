"""Test-only servers of the real contracts (user-service, postcard-service) with canned answers.

`ScriptedBackend`s (scripted_server.py: health, call counts, `fail_with`,
`hold`) of `postcardapp.user.v1.UserService` or
`postcardapp.postcard.v1.PostcardService`, answering each method with the
message in `answers` (the empty response when there is none), whoever calls:
for the gateway's failure modes, where the real services' logic is beside
the point.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.message import Message

from gateway.settings import POSTCARD_SERVICE, USER_SERVICE
from tests.support.scripted_server import ScriptedBackend

MODULES = {
    USER_SERVICE: "postcardapp.user.v1.user_service_pb2",
    POSTCARD_SERVICE: "postcardapp.postcard.v1.postcard_service_pb2",
}


class ContractBackend(ScriptedBackend):
    def __init__(self, name: str, service: str, answers: Mapping[str, Message]) -> None:
        super().__init__(name, service, MODULES[service])
        self.answers = dict(answers)

    def answer(self, method: str, request: Any, response_class: type[Message]) -> Message:
        answer = self.answers.get(method)
        return answer if answer is not None else response_class()
