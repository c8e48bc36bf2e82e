"""Google's own Dialogflow clients against botvisor's fakes (run by google_clients.rs).

google-cloud-dialogflow (ES v2) and google-cloud-dialogflow-cx (CX v3), REST transport,
api_endpoint pointed at the simulator (HTTPS, its CA in REQUESTS_CA_BUNDLE), credentials from the
service-account key the simulator made (its token_uri is the fake's token endpoint). Every answer
is also fetched raw with google-auth's AuthorizedSession and parsed strictly
(json_format.Parse(..., ignore_unknown_fields=False)). Prints one JSON line per check; exits 1
on the first failure.
"""

import json
import os
import sys

import google.auth.transport.requests
import google.oauth2.credentials
from google.api_core import exceptions
from google.cloud import dialogflow_v2 as es
from google.cloud import dialogflowcx_v3 as cx
from google.oauth2 import service_account
from google.protobuf import json_format, struct_pb2

ENDPOINT = os.environ["API_ENDPOINT"]
KEY_FILE = os.environ["KEY_FILE"]
OPTIONS = {"api_endpoint": ENDPOINT}
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
ES_AGENT = "projects/test-project/agent"
CX_AGENT = "projects/test-project/locations/global/agents/test-agent"


def check(name, ok, detail=""):
    print(json.dumps({"check": name, "ok": bool(ok), "detail": str(detail)[:500]}), flush=True)
    if not ok:
        sys.exit(1)


def payload():
    value = struct_pb2.Struct()
    value.update({"lpEvent": {"type": "ContentEvent", "dialogId": "d1"}, "lpSdes": {"authenticatedSdes": {}}})
    return value


def strict(path, request_pb, response_cls, credentials):
    """The raw answer to the same request, parsed strictly into the response message."""
    # As the REST transport makes it: its default host decides the self-signed JWT's audience.
    session = google.auth.transport.requests.AuthorizedSession(credentials, default_host="dialogflow.googleapis.com")
    body = json_format.MessageToJson(request_pb, use_integers_for_enums=True)
    raw = session.post(f"{ENDPOINT}/{path}:detectIntent?$alt=json;enum-encoding=int", data=body,
                       headers={"Content-Type": "application/json"}, timeout=30)
    if raw.status_code != 200:
        check(f"raw {path}", False, f"{raw.status_code} {raw.text}")
    message = response_cls()._pb
    json_format.Parse(raw.text, message, ignore_unknown_fields=False)
    return message


def es_checks(credentials, label):
    client = es.SessionsClient(transport="rest", credentials=credentials, client_options=OPTIONS)
    for text, session in [("hello", "py-es-1"), ("card", "py-es-2"), ("menu", "py-es-3"), ("transfer", "py-es-4"),
                          ("private", "py-es-5"), ("tagged", "py-es-6"), ("something else", "py-es-7")]:
        query_input = es.QueryInput(text=es.TextInput(text=text, language_code="en-US"))
        query_params = es.QueryParameters(payload=payload())
        response = client.detect_intent(request={"session": f"{ES_AGENT}/sessions/{session}", "query_input": query_input,
                                                 "query_params": query_params}, timeout=30)
        result = response.query_result
        check(f"{label} es detect_intent {text!r}", len(result.fulfillment_messages) > 0, result)
        request_pb = es.DetectIntentRequest(query_input=query_input, query_params=query_params)._pb
        strict(f"v2/{ES_AGENT}/sessions/{session}", request_pb, es.DetectIntentResponse, credentials)
        check(f"{label} es strict parse {text!r}", True)
        if text == "hello":
            check("es text", result.fulfillment_messages[0].text.text[0] == "Hello from Dialogflow", result)
        if text == "menu":
            check("es quick replies", list(result.fulfillment_messages[0].quick_replies.quick_replies) == ["Yes", "No"], result)
        if text == "transfer":
            check("es action", result.action == "TRANSFER" and result.parameters["skill"] == "billing", result)
        if text == "something else":
            check("es fallback", result.intent.is_fallback, result)
    welcome = es.QueryInput(event=es.EventInput(name="WELCOME", language_code="en"))
    response = client.detect_intent(session=f"{ES_AGENT}/sessions/py-es-8", query_input=welcome, timeout=30)
    check("es welcome event", response.query_result.fulfillment_messages[0].text.text[0].startswith("Welcome"), response)
    try:
        client.detect_intent(session=f"{ES_AGENT}/sessions/py-es-9",
                             query_input=es.QueryInput(text=es.TextInput(text="x" * 300, language_code="en")), timeout=30)
        check("es text over 256 refused", False)
    except exceptions.BadRequest as error:  # 400 INVALID_ARGUMENT, as the REST transport maps it
        check("es text over 256 refused", "256" in str(error), error)
    try:
        client.detect_intent(session="projects/nobody/agent/sessions/s",
                             query_input=es.QueryInput(text=es.TextInput(text="hi", language_code="en")), timeout=30)
        check("es unknown project", False)
    except exceptions.NotFound as error:
        check("es unknown project", True, error)


def cx_checks(credentials, label):
    client = cx.SessionsClient(transport="rest", credentials=credentials, client_options=OPTIONS)
    for text, session in [("hello", "py-cx-1"), ("human", "py-cx-2"), ("bye", "py-cx-3"), ("urgent", "py-cx-4"),
                          ("delay", "py-cx-5"), ("nothing matches this", "py-cx-6")]:
        query_input = cx.QueryInput(text=cx.TextInput(text=text), language_code="en")
        query_params = cx.QueryParameters(payload=payload())
        response = client.detect_intent(request={"session": f"{CX_AGENT}/sessions/{session}", "query_input": query_input,
                                                 "query_params": query_params}, timeout=30)
        result = response.query_result
        check(f"{label} cx detect_intent {text!r}", len(result.response_messages) > 0, result)
        request_pb = cx.DetectIntentRequest(query_input=query_input, query_params=query_params)._pb
        strict(f"v3/{CX_AGENT}/sessions/{session}", request_pb, cx.DetectIntentResponse, credentials)
        check(f"{label} cx strict parse {text!r}", True)
        if text == "hello":
            check("cx text", result.response_messages[0].text.text[0] == "Hello from Dialogflow", result)
            check("cx intent match", result.match.match_type == cx.Match.MatchType.INTENT, result.match)
        if text == "human":
            check("cx live agent handoff", result.response_messages[1].live_agent_handoff.metadata["skill"] == "billing", result)
        if text == "bye":
            check("cx end interaction", "end_interaction" in result.response_messages[1], result)
        if text == "nothing matches this":
            check("cx no match", result.match.match_type == cx.Match.MatchType.NO_MATCH, result.match)
    welcome = cx.QueryInput(event=cx.EventInput(event="WELCOME"), language_code="en")
    response = client.detect_intent(request={"session": f"{CX_AGENT}/sessions/py-cx-7", "query_input": welcome}, timeout=30)
    check("cx welcome event", response.query_result.match.match_type == cx.Match.MatchType.EVENT, response)
    try:
        client.detect_intent(request={"session": f"{CX_AGENT}/sessions/py-cx-8",
                                      "query_input": cx.QueryInput(text=cx.TextInput(text="hi"), language_code="fr")}, timeout=30)
        check("cx other language refused", False)
    except exceptions.BadRequest as error:  # 400 INVALID_ARGUMENT, as the REST transport maps it
        check("cx other language refused", True, error)


def main():
    # The clients' default: the key signs a self-signed JWT sent as the bearer.
    self_signed = service_account.Credentials.from_service_account_file(KEY_FILE)
    es_checks(self_signed, "self-signed")
    cx_checks(self_signed, "self-signed")
    # google-auth's token exchange at the key's token_uri (the fake's), then a plain token.
    exchanging = service_account.Credentials.from_service_account_file(KEY_FILE, scopes=SCOPES)
    exchanging.refresh(google.auth.transport.requests.Request())
    check("token exchange", bool(exchanging.token) and exchanging.expiry is not None, exchanging.expiry)
    token = google.oauth2.credentials.Credentials(token=exchanging.token)
    es_checks(token, "exchanged")
    cx_checks(token, "exchanged")
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    main()
