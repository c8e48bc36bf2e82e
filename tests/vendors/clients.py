"""The vendors' own clients against botvisor's fakes (run by clients.rs).

AWS's boto3 (lexv2-runtime, endpoint_url at the fake) calls RecognizeText, and every answer is
validated strictly against botocore's RecognizeText output shape; a wrong secret key is refused
with InvalidSignatureException; a request signed by botvisor's Lex adapter (given in
BOTVISOR_SIGNED) verifies with botocore's own SigV4 signer. IBM's ibm-watson (IAMAuthenticator,
service URL at the fake) makes a session and messages, each answer passing
StatefulMessageResponse.from_dict(). Prints one JSON line per check; exits 1 on the first failure.
"""

import json
import os
import sys

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.session
import botocore.validate
from botocore.exceptions import ClientError
from ibm_cloud_sdk_core.authenticators import IAMAuthenticator
from ibm_watson import AssistantV2
from ibm_watson.assistant_v2 import MessageInput, StatefulMessageResponse

ORIGIN = os.environ["ORIGIN"]
AK = os.environ["AWS_KEY_ID"]
SK = os.environ["AWS_SECRET"]
REGION = "us-east-1"


def check(name, ok, detail=""):
    print(json.dumps({"check": name, "ok": bool(ok), "detail": str(detail)[:800]}), flush=True)
    if not ok:
        sys.exit(1)


def lex_checks():
    client = boto3.client("lexv2-runtime", region_name=REGION, endpoint_url=ORIGIN,
                          aws_access_key_id=AK, aws_secret_access_key=SK)
    model = botocore.session.get_session().get_service_model("lexv2-runtime")
    output_shape = model.operation_model("RecognizeText").output_shape
    content_types = set(model.shape_for("MessageContentType").enum)
    for text, session in [("hello", "py-lex-1"), ("card", "py-lex:2"), ("picture", "py-lex-3"), ("urgent", "py-lex-4"),
                          ("give up", "py-lex-5"), ("something else", "py-lex-6"), ("WELCOME-INTENT", "py-lex-7")]:
        answer = client.recognize_text(botId="TESTBOT001", botAliasId="TSTALIASID", localeId="en_US", sessionId=session,
                                       text=text, sessionState={"sessionAttributes": {"convId": session}},
                                       requestAttributes={"BC-LP-CONTEXT": json.dumps({"lpEvent": {"type": "ContentEvent"}})})
        answer.pop("ResponseMetadata", None)
        report = botocore.validate.ParamValidator().validate(answer, output_shape)
        check(f"lex {text!r} validates against RecognizeText's output shape", not report.has_errors(), report.generate_report())
        kinds = {m["contentType"] for m in answer.get("messages", [])}
        check(f"lex {text!r} content types are Lex's", kinds <= content_types, kinds)
        check(f"lex {text!r} session", answer["sessionId"] == session, answer.get("sessionId"))
    wrong = boto3.client("lexv2-runtime", region_name=REGION, endpoint_url=ORIGIN,
                         aws_access_key_id=AK, aws_secret_access_key="not-the-secret")
    try:
        wrong.recognize_text(botId="TESTBOT001", botAliasId="TSTALIASID", localeId="en_US", sessionId="py-lex-x", text="hello")
        check("lex refuses a wrong secret", False, "accepted")
    except ClientError as error:
        code = error.response["Error"]["Code"]
        check("lex refuses a wrong secret with InvalidSignatureException", code == "InvalidSignatureException", code)
    try:
        client.recognize_text(botId="NOSUCHBOT0", botAliasId="TSTALIASID", localeId="en_US", sessionId="py-lex-x", text="hello")
        check("lex refuses an unknown bot", False, "accepted")
    except ClientError as error:
        code = error.response["Error"]["Code"]
        check("lex refuses an unknown bot with ResourceNotFoundException", code == "ResourceNotFoundException", code)


def botvisor_signature_checks():
    signed = json.loads(os.environ["BOTVISOR_SIGNED"])
    request = botocore.awsrequest.AWSRequest(method="POST", url=signed["url"], data=signed["body"].encode(),
                                             headers={"Content-Type": "application/json", "X-Amz-Date": signed["amz_date"]})
    auth = botocore.auth.SigV4Auth(botocore.credentials.Credentials(AK, SK), "lex", REGION)
    request.context["timestamp"] = signed["amz_date"]
    canonical = auth.canonical_request(request)
    signature = auth.signature(auth.string_to_sign(request, canonical), request)
    theirs = signed["authorization"].split("Signature=")[1]
    check("botocore's SigV4 signer makes the signature botvisor made", signature == theirs, f"{signature} vs {theirs}\n{canonical}")
    headers = signed["authorization"].split("SignedHeaders=")[1].split(",")[0]
    check("botvisor signs the headers botocore signs", headers == auth.signed_headers(auth.headers_to_sign(request)), headers)


def watson_checks():
    authenticator = IAMAuthenticator(os.environ["WATSON_KEY"], url=f"{ORIGIN}/identity/token")
    assistant = AssistantV2(version="2024-08-25", authenticator=authenticator)
    assistant.set_service_url(f"{ORIGIN}/instances/py")
    session = assistant.create_session(assistant_id="test-assistant", environment_id="draft").get_result()
    check("watson makes a session", "session_id" in session, session)
    for text in ["", "hello", "picture", "menu", "card", "tagged", "again", "urgent", "something else"]:
        result = assistant.message(assistant_id="test-assistant", environment_id="draft", session_id=session["session_id"],
                                   input=MessageInput(message_type="text", text=text, options={"return_context": True}),
                                   user_id="py-user").get_result()
        try:
            StatefulMessageResponse.from_dict(result)
            ok, detail = True, ""
        except Exception as error:  # noqa: BLE001 - any refusal is the failure reported
            ok, detail = False, f"{error}: {result}"
        check(f"watson {text!r} passes StatefulMessageResponse.from_dict", ok, detail)
    assistant.delete_session(assistant_id="test-assistant", environment_id="draft", session_id=session["session_id"])
    try:
        assistant.message(assistant_id="test-assistant", environment_id="draft", session_id=session["session_id"],
                          input=MessageInput(text="hello"))
        check("watson refuses a deleted session", False, "accepted")
    except Exception as error:  # noqa: BLE001
        check("watson refuses a deleted session with 404", getattr(error, "code", None) == 404, error)


lex_checks()
botvisor_signature_checks()
watson_checks()
print(json.dumps({"done": True}), flush=True)
