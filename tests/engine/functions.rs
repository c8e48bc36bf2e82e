//! Function invocation (`INVOCATION`, `INVOKE_FUNCTION`): the function is called with the payload
//! and the conversation; when it fails, `failOnError` decides between escalating and carrying on
//! with the error on record. A bot with no functions configured fails the invocation the same way.

use botvisor_actors::errors::ErrorCode;
use botvisor_actors::model::{BotAction, BotResponse};
use botvisor_actors::testkit::{advance, settle, FakeFunctions, FakeReply, FakeVendor};
use serde_json::json;

use crate::harness::{run_test, settings, Harness, MS};

fn invoking(lambda_uuid: &str, fail_on_error: bool) -> FakeVendor {
    let action = BotAction::InvokeFunction { lambda_uuid: lambda_uuid.into(), payload: json!({"order": 42}), fail_on_error };
    FakeVendor::scripted(move |_| FakeReply::Answer(BotResponse::text("One moment.").with_action(action.clone())))
}

async fn ask(h: &Harness) {
    h.open("c1").await;
    h.platform.consumer_says("c1", "where is my order?");
    settle().await;
    advance(301 * MS).await;
}

#[test]
fn an_invoked_function_gets_its_payload_and_the_conversation_goes_on() {
    run_test(async {
        let functions = FakeFunctions::default();
        let h = Harness::start_with_functions(settings(), invoking("fn-orders", true), functions.clone()).await;
        ask(&h).await;
        let invocations = functions.invocations();
        assert_eq!(invocations.len(), 1);
        assert_eq!((invocations[0].lambda_uuid.as_str(), &invocations[0].payload), ("fn-orders", &json!({"order": 42})));
        assert_eq!(invocations[0].conversation_id.as_str(), "c1");
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: where is my order?", "bot: One moment."]);
        assert_eq!(h.platform.skill_of("c1"), None, "still with the bot");
        assert!(h.conversation("c1").await.unwrap().last_error.is_none());
    });
}

#[test]
fn a_failed_function_with_fail_on_error_escalates() {
    run_test(async {
        let functions = FakeFunctions::default();
        functions.fail("fn-orders");
        let h = Harness::start_with_functions(settings(), invoking("fn-orders", true), functions.clone()).await;
        ask(&h).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        let status = h.status().await;
        assert_eq!(status.conversation_errors.last().unwrap().report.code, ErrorCode::FunctionInvocationFailed);
        assert_eq!(status.conversation_errors.last().unwrap().report.code.as_str(), "botvisor.action.invoke-function-failed");
    });
}

#[test]
fn a_failed_function_without_fail_on_error_is_recorded_and_the_bot_carries_on() {
    run_test(async {
        let functions = FakeFunctions::default();
        functions.fail("fn-orders");
        let h = Harness::start_with_functions(settings(), invoking("fn-orders", false), functions.clone()).await;
        ask(&h).await;
        assert_eq!(h.platform.skill_of("c1"), None, "not escalated");
        assert_eq!(h.platform.consumer_transcript("c1"), ["consumer: where is my order?", "bot: One moment."]);
        let error = h.conversation("c1").await.unwrap().last_error.expect("the failure is on record");
        assert_eq!(error.code, ErrorCode::FunctionInvocationFailed);
        assert!(error.message.contains("fn-orders"), "{}", error.message);
    });
}

#[test]
fn a_bot_without_functions_fails_the_invocation_as_the_flag_says() {
    run_test(async {
        let h = Harness::start(settings(), invoking("fn-orders", true)).await;
        ask(&h).await;
        assert_eq!(h.platform.skill_of("c1").as_deref(), Some("humans"));
        let error = h.status().await.conversation_errors.last().unwrap().report.clone();
        assert!(error.message.contains("no functions configured"), "{}", error.message);
    });
}
