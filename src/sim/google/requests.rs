//! The `DetectIntentRequest` bodies as Google parses them: every field the API knows (proto
//! JSON names, lowerCamelCase or the proto's snake_case), anything else refused, the `oneof`
//! inputs exactly one, the required fields present.

use serde::Deserialize;
use serde_json::{Map, Value};

/// ES v2 `DetectIntentRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EsRequest {
    #[serde(default, alias = "query_params")]
    pub query_params: Option<EsQueryParameters>,
    #[serde(alias = "query_input")]
    pub query_input: EsQueryInput,
    #[serde(default, alias = "output_audio_config")]
    pub output_audio_config: Option<Value>,
    #[serde(default, alias = "output_audio_config_mask")]
    pub output_audio_config_mask: Option<Value>,
    #[serde(default, alias = "input_audio")]
    pub input_audio: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EsQueryParameters {
    #[serde(default, alias = "time_zone")]
    pub time_zone: Option<String>,
    #[serde(default, alias = "geo_location")]
    pub geo_location: Option<Value>,
    #[serde(default)]
    pub contexts: Option<Vec<Value>>,
    #[serde(default, alias = "reset_contexts")]
    pub reset_contexts: Option<bool>,
    #[serde(default, alias = "session_entity_types")]
    pub session_entity_types: Option<Vec<Value>>,
    #[serde(default)]
    pub payload: Option<Map<String, Value>>,
    #[serde(default, alias = "sentiment_analysis_request_config")]
    pub sentiment_analysis_request_config: Option<Value>,
    #[serde(default, alias = "webhook_headers")]
    pub webhook_headers: Option<Map<String, Value>>,
    #[serde(default)]
    pub platform: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EsQueryInput {
    #[serde(default, alias = "audio_config")]
    pub audio_config: Option<Value>,
    #[serde(default)]
    pub text: Option<EsTextInput>,
    #[serde(default)]
    pub event: Option<EsEventInput>,
    #[serde(default)]
    pub dtmf: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EsTextInput {
    #[serde(default)]
    pub text: String,
    #[serde(default, alias = "language_code")]
    pub language_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EsEventInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default, alias = "language_code")]
    pub language_code: String,
}

/// CX v3 `DetectIntentRequest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CxRequest {
    #[serde(default, alias = "query_params")]
    pub query_params: Option<CxQueryParameters>,
    #[serde(alias = "query_input")]
    pub query_input: CxQueryInput,
    #[serde(default, alias = "output_audio_config")]
    pub output_audio_config: Option<Value>,
    #[serde(default, alias = "response_view")]
    pub response_view: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CxQueryParameters {
    #[serde(default, alias = "time_zone")]
    pub time_zone: Option<String>,
    #[serde(default, alias = "geo_location")]
    pub geo_location: Option<Value>,
    #[serde(default, alias = "session_entity_types")]
    pub session_entity_types: Option<Vec<Value>>,
    #[serde(default)]
    pub payload: Option<Map<String, Value>>,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default, alias = "current_page")]
    pub current_page: Option<String>,
    #[serde(default, alias = "disable_webhook")]
    pub disable_webhook: Option<bool>,
    #[serde(default, alias = "analyze_query_text_sentiment")]
    pub analyze_query_text_sentiment: Option<bool>,
    #[serde(default, alias = "webhook_headers")]
    pub webhook_headers: Option<Map<String, Value>>,
    #[serde(default, alias = "flow_versions")]
    pub flow_versions: Option<Vec<String>>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default, alias = "session_ttl")]
    pub session_ttl: Option<String>,
    #[serde(default, alias = "end_user_metadata")]
    pub end_user_metadata: Option<Map<String, Value>>,
    #[serde(default, alias = "search_config")]
    pub search_config: Option<Value>,
    #[serde(default, alias = "populate_data_store_connection_signals")]
    pub populate_data_store_connection_signals: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CxQueryInput {
    #[serde(default)]
    pub text: Option<CxTextInput>,
    #[serde(default)]
    pub intent: Option<Value>,
    #[serde(default)]
    pub audio: Option<Value>,
    #[serde(default)]
    pub event: Option<CxEventInput>,
    #[serde(default)]
    pub dtmf: Option<Value>,
    #[serde(default, alias = "language_code")]
    pub language_code: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CxTextInput {
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CxEventInput {
    #[serde(default)]
    pub event: String,
}

/// What a query asks, once checked: a text or an event, in a language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub text: Option<String>,
    pub event: Option<String>,
    pub language_code: String,
    /// `queryParams.payload`, as received.
    pub payload: Option<Map<String, Value>>,
}

/// The longest text input Dialogflow takes.
pub const MAX_TEXT_CHARS: usize = 256;

fn one_of(set: &[bool]) -> bool {
    set.iter().filter(|s| **s).count() == 1
}

impl EsRequest {
    /// The query, or Google's INVALID_ARGUMENT message.
    pub fn query(self) -> Result<Query, String> {
        let input = self.query_input;
        if !one_of(&[input.audio_config.is_some(), input.text.is_some(), input.event.is_some(), input.dtmf.is_some()]) {
            return Err("Exactly one of audio_config, text, event or dtmf must be set in query_input.".into());
        }
        let payload = self.query_params.and_then(|p| p.payload);
        match (input.text, input.event) {
            (Some(text), None) => Ok(Query { text: Some(text.text), event: None, language_code: text.language_code, payload }),
            (None, Some(event)) => Ok(Query { text: None, event: Some(event.name), language_code: event.language_code, payload }),
            _ => Err("The fake serves text and event queries only.".into()),
        }
        .and_then(check_query)
    }
}

impl CxRequest {
    pub fn query(self) -> Result<Query, String> {
        let input = self.query_input;
        if !one_of(&[input.text.is_some(), input.intent.is_some(), input.audio.is_some(), input.event.is_some(), input.dtmf.is_some()]) {
            return Err("Exactly one of text, intent, audio, event or dtmf must be set in query_input.".into());
        }
        let payload = self.query_params.and_then(|p| p.payload);
        let language_code = input.language_code;
        match (input.text, input.event) {
            (Some(text), None) => Ok(Query { text: Some(text.text), event: None, language_code, payload }),
            (None, Some(event)) => Ok(Query { text: None, event: Some(event.event), language_code, payload }),
            _ => Err("The fake serves text and event queries only.".into()),
        }
        .and_then(check_query)
    }
}

fn check_query(query: Query) -> Result<Query, String> {
    if query.language_code.is_empty() {
        return Err("Language code is required.".into());
    }
    if let Some(text) = &query.text {
        if text.trim().is_empty() {
            return Err("Input text must not be empty.".into());
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(format!("Input text exceeds {MAX_TEXT_CHARS} characters."));
        }
    }
    if query.event.as_deref().is_some_and(str::is_empty) {
        return Err("Event name must not be empty.".into());
    }
    Ok(query)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_fields_and_bad_oneofs_are_refused() {
        let es = |body: Value| serde_json::from_value::<EsRequest>(body).map_err(|e| e.to_string()).and_then(EsRequest::query);
        assert!(es(json!({"queryInput": {"text": {"text": "hi", "languageCode": "en"}}})).is_ok());
        assert!(es(json!({"query_input": {"text": {"text": "hi", "language_code": "en"}}})).is_ok(), "proto names too");
        assert!(es(json!({"queryInput": {"text": {"text": "hi", "languageCode": "en", "mood": "happy"}}})).unwrap_err().contains("mood"));
        assert!(es(json!({"queryInput": {}})).is_err());
        assert!(es(json!({"queryInput": {"text": {"text": "hi"}}})).unwrap_err().contains("Language code"));
        assert!(es(json!({"queryInput": {"text": {"text": "a".repeat(257), "languageCode": "en"}}})).unwrap_err().contains("256"));
        let cx = |body: Value| serde_json::from_value::<CxRequest>(body).map_err(|e| e.to_string()).and_then(CxRequest::query);
        assert!(cx(json!({"queryInput": {"event": {"event": "WELCOME"}, "languageCode": "en"}})).is_ok());
        assert!(cx(json!({"queryInput": {"text": {"text": "x"}, "event": {"event": "E"}, "languageCode": "en"}})).is_err());
        assert!(cx(json!({"queryInput": {"text": {"text": "x", "languageCode": "en"}}})).is_err(), "CX puts the language outside text");
    }
}
