//! What the platform refuses: every request frame a bot can send is checked against the
//! documented field rules before anything is applied, and a refused frame is answered with a 400
//! whose body names the field and the rule (spec §3.2, §4, §9).
//!
//! The rules are tables, one per request type, messaging event, conversation field and metadata
//! item, each naming the LivePerson schema it comes from (`DC:assets/schema/…`, e.g.
//! `TTRChange.json` requires `field`, `ttrType` and `value`). Where the spec documents values the
//! schema lacks (the README's `OCCUPIED`, `SUGGEST`, `BACKGROUND`, the survey bot's `AGENT` and
//! `ENRICH`), they are accepted: what the unmodified SDK and its examples send is valid by
//! definition (spec §10 item 10: `headers: null` or `{}`, `metadata: […]`, `encodedMetadata: null`,
//! string bodies, numeric or string ids, short and `.ams.` type names).
//!
//! Unknown fields are ignored, as the protocol asks of both sides (spec §3.2).

use base64::Engine;
use serde_json::{Map, Value};

use crate::sim::frames::Request;

/// `ExternalId.id`, `ActionReason.reason`, `BotResponse` names: at most this many characters.
pub const METADATA_ID_MAX_CHARS: usize = 64;
/// `encodedMetadata`: a base64 string of at most 5 KB (spec §3.2, §9).
pub const ENCODED_METADATA_MAX_BYTES: usize = 5 * 1024;
/// Request `id` and `subscriptionId`: 1 to 64 characters (`req.json`, spec §9).
pub const ID_MAX_CHARS: usize = 64;
/// Upload size limit (spec §9, file-sharing.md: at most 3 MB).
pub const FILE_MAX_BYTES: u64 = 3 * 1024 * 1024;

/// `setAgentState.json` plus the README's `OCCUPIED` (spec §4.1).
pub const AVAILABILITIES: &[&str] = &["ONLINE", "OCCUPIED", "AWAY", "BACK_SOON", "OFFLINE"];
/// `TTRChange.json`.
pub const TTR_TYPES: &[&str] = &["CUSTOM", "NORMAL", "PRIORITIZED", "URGENT"];
/// `ChatStateEvent.json` plus the README's `BACKGROUND` (spec §4.4).
pub const CHAT_STATES: &[&str] = &["ACTIVE", "INACTIVE", "GONE", "COMPOSING", "PAUSE", "BACKGROUND"];
/// `AcceptStatusEvent.json` plus the survey example's `ENRICH` (spec §4.4).
pub const ACCEPT_STATUSES: &[&str] = &["ACCEPT", "READ", "ACCESS", "NACK", "ACTION", "ENRICH"];
/// `updateRingState.json`.
pub const RING_STATES: &[&str] = &["ACCEPTED", "REJECTED"];
/// `subscribeExConversations.json` (`convState`; the survey bot's `stage` takes the same).
pub const CONVERSATION_STATES: &[&str] = &["OPEN", "CLOSE"];
/// `StateChange.json`: closing is the only state change.
pub const CONVERSATION_STATE_CHANGES: &[&str] = &["CLOSE"];
/// `ParticipantsChange.json` plus the README's `SUGGEST` (transfer to an agent, spec §4.5).
pub const PARTICIPANT_CHANGES: &[&str] = &["ADD", "REMOVE", "UPDATE", "SUGGEST"];
/// `ParticipantsChange.json` plus the survey bot's `AGENT` (spec §4.5).
pub const PARTICIPANT_ROLES: &[&str] = &["MANAGER", "READER", "ASSIGNED_AGENT", "AGENT"];
/// `SkillChange.json`.
pub const SKILL_CHANGES: &[&str] = &["UPDATE"];
/// `DialogChange` (README, spec §4.5).
pub const DIALOG_CHANGES: &[&str] = &["UPDATE"];
/// `conversationField[].field` names (`NAS@4b5cf97:lib/UMSClient/AMSStatics.js`, spec §4.5).
pub const CONVERSATION_FIELDS: &[&str] = &[
    "ConversationStateField",
    "ParticipantsChange",
    "Skill",
    "TTRField",
    "DialogChange",
    "CSATRate",
    "DelayField",
    "ManualETTR",
    "Note",
    "TopicField",
];
/// `PublishEvent` audiences (spec §4.4: a private message is `AGENTS_AND_MANAGERS`).
pub const AUDIENCES: &[&str] = &["ALL", "AGENTS_AND_MANAGERS"];
/// `GenerateURLForUploadFileBody.json` plus `JPEG` as spec §9 lists it.
pub const UPLOAD_FILE_TYPES: &[&str] = &["JPG", "JPEG", "PNG", "GIF"];
/// `HostedFile.json` plus `JPEG`.
pub const HOSTED_FILE_TYPES: &[&str] = &["IMG", "JPG", "JPEG", "PNG", "GIF", "TXT", "PDF"];
/// Event types a bot may publish (`AbstractMessagingEvent.json`).
pub const EVENT_TYPES: &[&str] = &["ContentEvent", "RichContentEvent", "AcceptStatusEvent", "ChatStateEvent"];

/// A refused request: which field, which rule, and the schema the rule comes from.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{path}: {rule} ({schema})")]
pub struct Refusal {
    /// Where in the frame: `conversationField[0].value`, `metadata[1].id`, `headers`.
    pub path: String,
    pub rule: Rule,
    /// The schema or spec section the rule comes from.
    pub schema: &'static str,
}

/// The rule a field broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rule {
    #[error("required")]
    Required,
    #[error("must be {0}")]
    Type(Expected),
    #[error("must be one of {}, not {found:?}", allowed.join(", "))]
    OneOf { allowed: &'static [&'static str], found: String },
    #[error("must be {min} to {max} characters, not {found}")]
    Length { min: usize, max: usize, found: usize },
    #[error("must be at most {max} bytes, not {found}")]
    Bytes { max: usize, found: usize },
    #[error("must be between {min} and {max}")]
    Range { min: f64, max: f64 },
    #[error("must not be empty")]
    Empty,
    #[error("must be base64")]
    Base64,
    #[error("at most one ExternalId per request (reports pick cards by it), found {0}")]
    ExternalIds(usize),
    #[error("unknown request type {0:?}")]
    UnknownType(String),
}

/// A JSON type a field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Expected {
    #[error("a string")]
    String,
    #[error("an integer")]
    Integer,
    #[error("a non-negative integer")]
    Count,
    #[error("a number")]
    Number,
    #[error("an object")]
    Object,
    #[error("an array")]
    Array,
    #[error("an array of strings")]
    Strings,
    #[error("an array of non-negative integers")]
    Counts,
    #[error("an array of objects")]
    Objects,
    #[error("a non-negative integer or a string of digits")]
    Size,
    #[error("null, an object or an array of objects")]
    Headers,
    #[error("null or an array of metadata objects")]
    Metadata,
    #[error("null or a base64 string")]
    EncodedMetadata,
    #[error("the consumer id (a string) or an object with userId")]
    Profile,
}

/// What a field holds.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Any,
    Str,
    /// A string of at most this many characters.
    ShortStr(usize),
    /// A string of 1 to 64 characters (ids).
    Id,
    OneOf(&'static [&'static str]),
    /// An array of strings; one string stands for a one-element array (spec §3.2).
    Strings,
    /// An array of these values; one value stands for a one-element array.
    OneOfEach(&'static [&'static str]),
    /// An array of strings of at most this many characters each.
    ShortStrs(usize),
    Integer,
    Count,
    Counts,
    /// A number in this closed range.
    Between(f64, f64),
    /// An integer, or a string of digits (`GenerateURLForUploadFileBody.json` types `fileSize` as
    /// a string; the SDK sends a number). At most `FILE_MAX_BYTES`.
    FileSize,
    Object,
    /// An object with these fields.
    Nested(&'static [Field]),
    /// An array of objects with these fields.
    NestedEach(&'static [Field]),
}

#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    required: bool,
    kind: Kind,
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field { name, required: true, kind }
}

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field { name, required: false, kind }
}

/// A schema: its name, its fields, and what depends on a discriminating field.
struct Schema {
    name: &'static str,
    fields: &'static [Field],
}

/// The body of each request type, by its short name.
const REQUESTS: &[(&str, Schema)] = &[
    ("GetClock", Schema { name: "GetClock, spec §3.5", fields: &[] }),
    ("KeepAlive", Schema { name: "keepAlive.json", fields: &[] }),
    (
        "routing.SetAgentState",
        Schema {
            name: "setAgentState.json",
            fields: &[
                req("availability", Kind::OneOf(AVAILABILITIES)),
                opt("channels", Kind::Strings),
                opt("agentUserId", Kind::Str),
                opt("description", Kind::Str),
            ],
        },
    ),
    (
        "routing.SubscribeRoutingTasks",
        Schema {
            name: "SubscribeRoutingTasks, spec §4",
            fields: &[opt("channelType", Kind::Str), opt("agentId", Kind::Str), opt("brandId", Kind::Str)],
        },
    ),
    (
        "routing.UpdateRingState",
        Schema { name: "updateRingState.json", fields: &[req("ringId", Kind::Str), req("ringState", Kind::OneOf(RING_STATES))] },
    ),
    (
        "routing.SubscribeAgentsState",
        Schema { name: "SubscribeAgentsState, spec §4", fields: &[opt("agentId", Kind::Str), opt("brandId", Kind::Str)] },
    ),
    (
        "aam.SubscribeExConversations",
        Schema {
            name: "subscribeExConversations.json",
            fields: &[
                opt("convState", Kind::OneOfEach(CONVERSATION_STATES)),
                opt("stage", Kind::OneOfEach(CONVERSATION_STATES)),
                opt("agentIds", Kind::Strings),
                opt("minLastUpdatedTime", Kind::Count),
            ],
        },
    ),
    ("aam.UnsubscribeExConversations", Schema { name: "unsubscribeExConversations.json", fields: &[req("subscriptionId", Kind::Id)] }),
    ("ms.QueryMessages", Schema { name: "queryMessages.json", fields: QUERY_MESSAGES }),
    ("ms.SubscribeMessagingEvents", Schema { name: "subscribeMessagingEvents.json", fields: QUERY_MESSAGES }),
    (
        "ms.PublishEvent",
        Schema {
            name: "PublishEvent.json",
            fields: &[
                req("dialogId", Kind::Str),
                req("event", Kind::Object),
                opt("conversationId", Kind::Str),
                opt("messageAudience", Kind::OneOf(AUDIENCES)),
            ],
        },
    ),
    (
        "cm.UpdateConversationField",
        Schema {
            name: "updateConversationFieldBody.json",
            fields: &[req("conversationId", Kind::Str), req("conversationField", Kind::Any), opt("dialogId", Kind::Str)],
        },
    ),
    ("userprofile.GetUserProfile", Schema { name: "getUserProfile.json", fields: &[] }),
    (
        "ms.GenerateURLForUploadFile",
        Schema {
            name: "GenerateURLForUploadFileBody.json",
            fields: &[req("fileSize", Kind::FileSize), req("fileType", Kind::OneOf(UPLOAD_FILE_TYPES))],
        },
    ),
    ("ms.GenerateURLForDownloadFile", Schema { name: "GenerateURLForDownloadFileBody.json", fields: &[req("relativePath", Kind::Str)] }),
];

/// `fromSeq` is an integer with no minimum in the schema; `newerThanSequence` is the SDK's name
/// for it (spec §4.3).
const QUERY_MESSAGES: &[Field] =
    &[req("dialogId", Kind::Str), opt("fromSeq", Kind::Integer), opt("newerThanSequence", Kind::Integer), opt("maxQuantity", Kind::Count)];

/// A hosted file (`HostedFile.json`).
const HOSTED_FILE: &[Field] = &[
    req("caption", Kind::Str),
    req("relativePath", Kind::Str),
    req("fileType", Kind::OneOf(HOSTED_FILE_TYPES)),
    opt("preview", Kind::Any),
];

/// Messaging events by `event.type` (`AbstractMessagingEvent.json`). A `ContentEvent` is checked
/// further by its `contentType` (text or hosted file).
const EVENTS: &[(&str, Schema)] = &[
    (
        "ContentEvent",
        Schema {
            name: "TextValue.json",
            fields: &[req("contentType", Kind::Str), req("message", Kind::Str), opt("quickReplies", Kind::Object)],
        },
    ),
    ("RichContentEvent", Schema { name: "RichContent.json", fields: &[req("content", Kind::Object), opt("quickReplies", Kind::Object)] }),
    (
        "AcceptStatusEvent",
        Schema {
            name: "AcceptStatusEvent.json",
            fields: &[req("status", Kind::OneOf(ACCEPT_STATUSES)), req("sequenceList", Kind::Counts)],
        },
    ),
    ("ChatStateEvent", Schema { name: "ChatStateEvent.json", fields: &[req("chatState", Kind::OneOf(CHAT_STATES))] }),
];

const HOSTED_FILE_EVENT: Schema =
    Schema { name: "HostedFile.json", fields: &[req("contentType", Kind::Str), req("message", Kind::Nested(HOSTED_FILE))] };

/// Conversation field changes by `field` (`updateConversationFieldBody.json` and its `types/`).
/// The last five names are documented without a body shape; only the name is checked.
const FIELD_CHANGES: &[(&str, Schema)] = &[
    (
        "ConversationStateField",
        Schema { name: "StateChange.json", fields: &[req("conversationState", Kind::OneOf(CONVERSATION_STATE_CHANGES))] },
    ),
    (
        "ParticipantsChange",
        Schema {
            name: "ParticipantsChange.json",
            fields: &[
                req("type", Kind::OneOf(PARTICIPANT_CHANGES)),
                req("role", Kind::OneOf(PARTICIPANT_ROLES)),
                opt("userId", Kind::Str),
                opt("dialogId", Kind::Str),
            ],
        },
    ),
    ("Skill", Schema { name: "SkillChange.json", fields: &[req("type", Kind::OneOf(SKILL_CHANGES)), req("skill", Kind::Str)] }),
    ("TTRField", Schema { name: "TTRChange.json", fields: &[req("ttrType", Kind::OneOf(TTR_TYPES)), req("value", Kind::Count)] }),
    (
        "DialogChange",
        Schema {
            name: "DialogChange, spec §4.5",
            fields: &[req("type", Kind::OneOf(DIALOG_CHANGES)), req("dialog", Kind::Nested(DIALOG))],
        },
    ),
    ("CSATRate", Schema { name: "CsatChange.json", fields: &[] }),
    ("DelayField", Schema { name: "DelayField, spec §4.5", fields: &[] }),
    ("ManualETTR", Schema { name: "ManualETTR, spec §4.5", fields: &[] }),
    ("Note", Schema { name: "Note, spec §4.5", fields: &[] }),
    ("TopicField", Schema { name: "TopicField, spec §4.5", fields: &[] }),
];

const DIALOG: &[Field] = &[
    req("dialogId", Kind::Str),
    opt("state", Kind::OneOf(CONVERSATION_STATES)),
    opt("closedBy", Kind::Str),
    opt("closedCause", Kind::Str),
];

/// Metadata items by `type` (`infra/metadata/Metadata.json`); other types need only a `type`.
const METADATA: &[(&str, Schema)] = &[
    ("ExternalId", Schema { name: "ExternalId.json", fields: &[req("id", Kind::ShortStr(METADATA_ID_MAX_CHARS))] }),
    (
        "ActionReason",
        Schema {
            name: "ActionReason.json",
            fields: &[opt("reasonId", Kind::ShortStr(METADATA_ID_MAX_CHARS)), opt("reason", Kind::ShortStr(METADATA_ID_MAX_CHARS))],
        },
    ),
    (
        "BotResponse",
        Schema {
            name: "BotResponse.json",
            fields: &[
                opt("externalConversationId", Kind::ShortStr(METADATA_ID_MAX_CHARS)),
                opt("businessCases", Kind::ShortStrs(METADATA_ID_MAX_CHARS)),
                opt("intents", Kind::NestedEach(INTENT)),
            ],
        },
    ),
];

const INTENT: &[Field] = &[
    req("id", Kind::ShortStr(METADATA_ID_MAX_CHARS)),
    opt("name", Kind::ShortStr(METADATA_ID_MAX_CHARS)),
    req("confidence", Kind::Between(0.0, 1.0)),
];

const METADATA_SCHEMA: &str = "Metadata.json";
const REQUEST_SCHEMA: &str = "req.json";

/// Checks a parsed request: its frame-level fields, then its body by type. Nothing of a refused
/// request may be applied.
pub fn request(request: &Request) -> Result<(), Refusal> {
    headers(request.headers.as_ref())?;
    metadata(request.metadata.as_ref())?;
    encoded_metadata(request.encoded_metadata.as_ref())?;
    body(&request.kind, &request.body)
}

/// `headers`: absent, `null`, `{}` (what the SDK sends) or an array of header objects
/// (`infra/header.json`).
fn headers(headers: Option<&Value>) -> Result<(), Refusal> {
    match headers {
        None | Some(Value::Null | Value::Object(_)) => Ok(()),
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => Ok(()),
        Some(_) => Err(refuse("headers", Rule::Type(Expected::Headers), REQUEST_SCHEMA)),
    }
}

/// `metadata`: absent, `null` or an array of typed objects; at most one `ExternalId`.
fn metadata(metadata: Option<&Value>) -> Result<(), Refusal> {
    let items = match metadata {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(refuse("metadata", Rule::Type(Expected::Metadata), METADATA_SCHEMA)),
    };
    let mut external_ids = 0;
    for (i, item) in items.iter().enumerate() {
        let path = format!("metadata[{i}]");
        let Value::Object(map) = item else {
            return Err(refuse(&path, Rule::Type(Expected::Object), METADATA_SCHEMA));
        };
        let kind = match map.get("type") {
            None => return Err(refuse(&format!("{path}.type"), Rule::Required, METADATA_SCHEMA)),
            Some(Value::String(kind)) => kind.as_str(),
            Some(_) => return Err(refuse(&format!("{path}.type"), Rule::Type(Expected::String), METADATA_SCHEMA)),
        };
        if kind == "ExternalId" {
            external_ids += 1;
            if external_ids > 1 {
                let total = items.iter().filter(|m| m.get("type").and_then(Value::as_str) == Some("ExternalId")).count();
                return Err(refuse(&path, Rule::ExternalIds(total), "ExternalId.json"));
            }
        }
        if let Some(schema) = lookup(METADATA, kind) {
            fields(&path, map, schema.fields, schema.name)?;
        }
    }
    Ok(())
}

/// `encodedMetadata`: absent, `null` or a base64 string of at most 5 KB.
fn encoded_metadata(encoded: Option<&Value>) -> Result<(), Refusal> {
    const SCHEMA: &str = "encodedMetadata, spec §3.2";
    let text = match encoded {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::String(text)) => text,
        Some(_) => return Err(refuse("encodedMetadata", Rule::Type(Expected::EncodedMetadata), SCHEMA)),
    };
    if text.len() > ENCODED_METADATA_MAX_BYTES {
        return Err(refuse("encodedMetadata", Rule::Bytes { max: ENCODED_METADATA_MAX_BYTES, found: text.len() }, SCHEMA));
    }
    if base64::engine::general_purpose::STANDARD.decode(text).is_err() {
        return Err(refuse("encodedMetadata", Rule::Base64, SCHEMA));
    }
    Ok(())
}

/// The body of a request of type `kind` (short name, as `frames::parse_request` leaves it).
pub fn body(kind: &str, body: &Value) -> Result<(), Refusal> {
    let Some(schema) = lookup(REQUESTS, kind) else {
        return Err(refuse("type", Rule::UnknownType(kind.to_owned()), REQUEST_SCHEMA));
    };
    if kind == "userprofile.GetUserProfile" {
        // The SDK sends the consumer id as a bare JSON string; an older tutorial {"userId": …}.
        return match body {
            Value::String(id) if !id.is_empty() => Ok(()),
            Value::Object(map) => fields("body", map, &[req("userId", Kind::Str)], schema.name),
            _ => Err(refuse("body", Rule::Type(Expected::Profile), schema.name)),
        };
    }
    let Value::Object(map) = body else {
        return Err(refuse("body", Rule::Type(Expected::Object), schema.name));
    };
    fields("", map, schema.fields, schema.name)?;
    match kind {
        // Both are required, so present here.
        "ms.PublishEvent" => event("event", map.get("event").unwrap_or(&Value::Null)),
        "cm.UpdateConversationField" => conversation_fields(map.get("conversationField").unwrap_or(&Value::Null)),
        _ => Ok(()),
    }
}

/// A messaging event a bot publishes (`AbstractMessagingEvent.json`).
pub fn event(path: &str, event: &Value) -> Result<(), Refusal> {
    const SCHEMA: &str = "AbstractMessagingEvent.json";
    let Value::Object(map) = event else {
        return Err(refuse(path, Rule::Type(Expected::Object), SCHEMA));
    };
    let kind = one_of(path, map, "type", EVENT_TYPES, SCHEMA)?;
    let schema = if kind == "ContentEvent" && map.get("contentType").and_then(Value::as_str) == Some("hosted/file") {
        Some(&HOSTED_FILE_EVENT)
    } else {
        lookup(EVENTS, kind)
    };
    schema.map_or(Ok(()), |schema| fields(path, map, schema.fields, schema.name))
}

/// `conversationField`: a non-empty array (the SDK's transformer calls `.forEach` on it, spec
/// §4.5), each item checked by its `field`.
fn conversation_fields(value: &Value) -> Result<(), Refusal> {
    const SCHEMA: &str = "updateConversationFieldBody.json";
    let Value::Array(items) = value else {
        return Err(refuse("conversationField", Rule::Type(Expected::Array), SCHEMA));
    };
    if items.is_empty() {
        return Err(refuse("conversationField", Rule::Empty, SCHEMA));
    }
    for (i, item) in items.iter().enumerate() {
        let path = format!("conversationField[{i}]");
        let Value::Object(map) = item else {
            return Err(refuse(&path, Rule::Type(Expected::Object), SCHEMA));
        };
        let name = one_of(&path, map, "field", CONVERSATION_FIELDS, SCHEMA)?;
        if let Some(schema) = lookup(FIELD_CHANGES, name) {
            fields(&path, map, schema.fields, schema.name)?;
        }
    }
    Ok(())
}

fn lookup<'a>(table: &'a [(&str, Schema)], key: &str) -> Option<&'a Schema> {
    table.iter().find(|(name, _)| *name == key).map(|(_, schema)| schema)
}

/// The string field `name`, required and one of `allowed`.
fn one_of<'a>(
    path: &str,
    map: &'a Map<String, Value>,
    name: &str,
    allowed: &'static [&'static str],
    schema: &'static str,
) -> Result<&'a str, Refusal> {
    let at = join(path, name);
    match map.get(name) {
        None | Some(Value::Null) => Err(refuse(&at, Rule::Required, schema)),
        Some(Value::String(found)) if allowed.contains(&found.as_str()) => Ok(found),
        Some(Value::String(found)) => Err(refuse(&at, Rule::OneOf { allowed, found: found.clone() }, schema)),
        Some(_) => Err(refuse(&at, Rule::Type(Expected::String), schema)),
    }
}

/// Checks `map`'s fields against a table; the first problem found is reported.
fn fields(path: &str, map: &Map<String, Value>, table: &[Field], schema: &'static str) -> Result<(), Refusal> {
    for field in table {
        let at = join(path, field.name);
        match map.get(field.name) {
            // A null optional field reads as absent (the SDK serialises what the caller passed).
            None | Some(Value::Null) if field.required => return Err(refuse(&at, Rule::Required, schema)),
            None | Some(Value::Null) => {}
            Some(value) => kind(&at, value, field.kind, schema)?,
        }
    }
    Ok(())
}

fn kind(at: &str, value: &Value, kind: Kind, schema: &'static str) -> Result<(), Refusal> {
    let wrong = |expected| Err(refuse(at, Rule::Type(expected), schema));
    match kind {
        Kind::Any => Ok(()),
        Kind::Str => value.as_str().map_or_else(|| wrong(Expected::String), |_| Ok(())),
        Kind::ShortStr(max) => match value.as_str() {
            None => wrong(Expected::String),
            Some(text) => chars(at, text, 0, max, schema),
        },
        Kind::Id => match value.as_str() {
            None => wrong(Expected::String),
            Some(text) => chars(at, text, 1, ID_MAX_CHARS, schema),
        },
        Kind::OneOf(allowed) => match value.as_str() {
            None => wrong(Expected::String),
            Some(found) if allowed.contains(&found) => Ok(()),
            Some(found) => Err(refuse(at, Rule::OneOf { allowed, found: found.to_owned() }, schema)),
        },
        Kind::Strings => match value {
            Value::String(_) => Ok(()),
            Value::Array(items) if items.iter().all(Value::is_string) => Ok(()),
            _ => wrong(Expected::Strings),
        },
        Kind::OneOfEach(allowed) => match value {
            Value::String(_) => self::kind(at, value, Kind::OneOf(allowed), schema),
            Value::Array(items) => {
                items.iter().enumerate().try_for_each(|(i, item)| self::kind(&format!("{at}[{i}]"), item, Kind::OneOf(allowed), schema))
            }
            _ => wrong(Expected::Strings),
        },
        Kind::ShortStrs(max) => match value {
            Value::Array(items) => {
                items.iter().enumerate().try_for_each(|(i, item)| self::kind(&format!("{at}[{i}]"), item, Kind::ShortStr(max), schema))
            }
            _ => wrong(Expected::Strings),
        },
        Kind::Integer => {
            if value.is_i64() || value.is_u64() {
                Ok(())
            } else {
                wrong(Expected::Integer)
            }
        }
        Kind::Count => {
            if value.is_u64() {
                Ok(())
            } else {
                wrong(Expected::Count)
            }
        }
        Kind::Counts => match value {
            Value::Array(items) if items.iter().all(Value::is_u64) => Ok(()),
            _ => wrong(Expected::Counts),
        },
        Kind::Between(min, max) => match value.as_f64() {
            None => wrong(Expected::Number),
            Some(n) if (min..=max).contains(&n) => Ok(()),
            Some(_) => Err(refuse(at, Rule::Range { min, max }, schema)),
        },
        Kind::FileSize => {
            let size = match value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
                _ => None,
            };
            match size {
                None => wrong(Expected::Size),
                Some(size) if size <= FILE_MAX_BYTES => Ok(()),
                Some(_) => Err(refuse(at, Rule::Range { min: 0.0, max: FILE_MAX_BYTES as f64 }, schema)),
            }
        }
        Kind::Object => {
            if value.is_object() {
                Ok(())
            } else {
                wrong(Expected::Object)
            }
        }
        Kind::Nested(table) => match value {
            Value::Object(map) => fields(at, map, table, schema),
            _ => wrong(Expected::Object),
        },
        Kind::NestedEach(table) => match value {
            Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| match item {
                Value::Object(map) => fields(&format!("{at}[{i}]"), map, table, schema),
                _ => Err(refuse(&format!("{at}[{i}]"), Rule::Type(Expected::Object), schema)),
            }),
            _ => wrong(Expected::Objects),
        },
    }
}

fn chars(at: &str, text: &str, min: usize, max: usize, schema: &'static str) -> Result<(), Refusal> {
    let found = text.chars().count();
    if (min..=max).contains(&found) {
        Ok(())
    } else {
        Err(refuse(at, Rule::Length { min, max, found }, schema))
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn refuse(path: &str, rule: Rule, schema: &'static str) -> Refusal {
    Refusal { path: path.to_owned(), rule, schema }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::sim::frames::parse_request;

    fn check(frame: Value) -> Result<(), Refusal> {
        request(&parse_request(&frame.to_string()).expect("a parsable frame"))
    }

    /// A frame of `kind` with `body`.
    fn frame(kind: &str, body: Value) -> Value {
        json!({"kind": "req", "id": "1", "type": kind, "body": body})
    }

    fn refused(frame: Value) -> String {
        check(frame.clone()).map(|()| panic!("accepted: {frame}")).unwrap_or_else(|refusal| refusal.to_string())
    }

    fn field_change(change: Value) -> Value {
        frame(".ams.cm.UpdateConversationField", json!({"conversationId": "c", "conversationField": [change]}))
    }

    fn publish(event: Value) -> Value {
        frame(".ams.ms.PublishEvent", json!({"dialogId": "d", "event": event}))
    }

    fn with(mut frame: Value, key: &str, value: Value) -> Value {
        frame[key] = value;
        frame
    }

    /// Every frame the SDK 1.2.0 bot (tests/sdk/bot.js) and botvisor's client send, as sent.
    #[test]
    fn what_the_sdk_sends_is_accepted() {
        let frames = [
            frame(".GetClock", json!({})),
            frame(".ams.routing.SetAgentState", json!({"availability": "ONLINE", "channels": ["MESSAGING"], "agentUserId": "1.2"})),
            frame(".ams.aam.SubscribeExConversations", json!({"agentIds": ["1.2"], "convState": ["OPEN"]})),
            frame(".ams.routing.SubscribeRoutingTasks", json!({"channelType": "MESSAGING", "agentId": "1.2", "brandId": "1"})),
            frame(".ams.routing.UpdateRingState", json!({"ringId": "c_1_2", "ringState": "ACCEPTED"})),
            frame(".ams.ms.QueryMessages", json!({"dialogId": "d", "fromSeq": 0, "newerThanSequence": 0})),
            publish(json!({"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [0]})),
            publish(json!({"type": "ContentEvent", "contentType": "text/plain", "message": "echo: hi"})),
            publish(json!({"type": "ChatStateEvent", "chatState": "COMPOSING"})),
            publish(json!({"type": "RichContentEvent", "content": {"type": "vertical", "elements": []}})),
            frame(
                ".ams.cm.UpdateConversationField",
                json!({"conversationId": "c", "conversationField": [
                {"field": "ParticipantsChange", "type": "REMOVE", "role": "ASSIGNED_AGENT", "userId": "1.2"},
                {"field": "Skill", "type": "UPDATE", "skill": "1001"}]}),
            ),
            field_change(json!({"field": "ConversationStateField", "conversationState": "CLOSE"})),
            field_change(
                json!({"field": "DialogChange", "type": "UPDATE", "dialog": {"dialogId": "c", "state": "CLOSE", "closedBy": "AGENT", "closedCause": "Completed"}}),
            ),
            field_change(json!({"field": "TTRField", "ttrType": "URGENT", "value": 300})),
            frame(".ams.userprofile.GetUserProfile", json!("\"consumer\"")),
            frame(".ams.ms.GenerateURLForUploadFile", json!({"fileSize": 5020, "fileType": "JPEG"})),
        ];
        for f in frames {
            assert_eq!(check(f.clone()), Ok(()), "{f}");
        }
        // Spec §10 item 10: frame-level nulls and empty objects, numeric ids, short type names.
        let extras = json!({"kind": "req", "id": 4, "type": "ms.PublishEvent", "body": {"dialogId": "d", "event": {"type": "ContentEvent", "contentType": "text/plain", "message": "x"}},
            "headers": null, "metadata": [{"type": "ExternalId", "id": "CARD"}, {"type": "ActionReason", "reason": "why"}], "encodedMetadata": null});
        assert_eq!(check(extras.clone()), Ok(()));
        assert_eq!(check(with(with(extras, "headers", json!({})), "encodedMetadata", json!("ZW5j"))), Ok(()));
    }

    #[test]
    fn ttr_needs_a_type_from_the_enum_and_a_value() {
        let message = refused(field_change(json!({"field": "TTRField", "ttrType": "URGENT"})));
        assert_eq!(message, "conversationField[0].value: required (TTRChange.json)");
        assert!(refused(field_change(json!({"field": "TTRField", "ttrType": "SOON", "value": 1})))
            .starts_with("conversationField[0].ttrType: must be one of CUSTOM, NORMAL, PRIORITIZED, URGENT"));
        assert!(refused(field_change(json!({"field": "TTRField", "ttrType": "CUSTOM", "value": -5})))
            .contains("value: must be a non-negative integer"));
        assert!(refused(field_change(json!({"field": "TTRField", "ttrType": "CUSTOM", "value": "300"})))
            .contains("value: must be a non-negative integer"));
    }

    #[test]
    fn conversation_field_is_a_non_empty_array_of_known_fields() {
        let one = frame(
            "cm.UpdateConversationField",
            json!({"conversationId": "c", "conversationField": {"field": "ConversationStateField", "conversationState": "CLOSE"}}),
        );
        assert_eq!(refused(one), "conversationField: must be an array (updateConversationFieldBody.json)");
        assert!(refused(frame("cm.UpdateConversationField", json!({"conversationId": "c", "conversationField": []})))
            .starts_with("conversationField: must not be empty"));
        assert!(refused(frame("cm.UpdateConversationField", json!({"conversationField": []}))).starts_with("conversationId: required"));
        assert!(refused(field_change(json!({"field": "Mood"})))
            .starts_with("conversationField[0].field: must be one of ConversationStateField"));
        assert!(refused(field_change(json!({"conversationState": "CLOSE"}))).starts_with("conversationField[0].field: required"));
        assert!(refused(field_change(json!("CLOSE"))).starts_with("conversationField[0]: must be an object"));
    }

    #[test]
    fn each_field_change_follows_its_schema() {
        assert_eq!(
            refused(field_change(json!({"field": "ConversationStateField", "conversationState": "OPEN"}))),
            "conversationField[0].conversationState: must be one of CLOSE, not \"OPEN\" (StateChange.json)"
        );
        assert!(refused(field_change(json!({"field": "ParticipantsChange", "type": "KICK", "role": "MANAGER"})))
            .contains("type: must be one of ADD, REMOVE, UPDATE, SUGGEST"));
        assert!(refused(field_change(json!({"field": "ParticipantsChange", "type": "ADD"})))
            .starts_with("conversationField[0].role: required (ParticipantsChange.json)"));
        assert!(
            refused(field_change(json!({"field": "ParticipantsChange", "type": "ADD", "role": "BOSS"}))).contains("role: must be one of")
        );
        assert!(refused(field_change(json!({"field": "Skill", "skill": "1001"})))
            .starts_with("conversationField[0].type: required (SkillChange.json)"));
        assert!(refused(field_change(json!({"field": "Skill", "type": "UPDATE", "skill": 1001})))
            .starts_with("conversationField[0].skill: must be a string"));
        assert!(refused(field_change(json!({"field": "DialogChange", "type": "UPDATE", "dialog": {"state": "CLOSE"}})))
            .starts_with("conversationField[0].dialog.dialogId: required"));
        assert!(refused(field_change(json!({"field": "DialogChange", "type": "UPDATE", "dialog": {"dialogId": "c", "state": "SHUT"}})))
            .contains("dialog.state: must be one of OPEN, CLOSE"));
    }

    #[test]
    fn external_ids_are_at_most_64_characters_and_one_per_request() {
        let card = |id: &str| {
            publish(json!({"type": "ContentEvent", "contentType": "text/plain", "message": "x"})).as_object().cloned().map(|mut m| {
                m.insert("metadata".into(), json!([{"type": "ExternalId", "id": id}]));
                Value::Object(m)
            })
        };
        assert_eq!(check(card(&"x".repeat(64)).unwrap()), Ok(()));
        assert_eq!(check(card(&"é".repeat(64)).unwrap()), Ok(()), "characters, not bytes");
        assert_eq!(refused(card(&"x".repeat(65)).unwrap()), "metadata[0].id: must be 0 to 64 characters, not 65 (ExternalId.json)");
        let two = with(
            publish(json!({"type": "ContentEvent", "contentType": "text/plain", "message": "x"})),
            "metadata",
            json!([{"type": "ExternalId", "id": "a"}, {"type": "BotResponse"}, {"type": "ExternalId", "id": "b"}]),
        );
        assert_eq!(refused(two), "metadata[2]: at most one ExternalId per request (reports pick cards by it), found 2 (ExternalId.json)");
        let no_id = with(frame("GetClock", json!({})), "metadata", json!([{"type": "ExternalId"}]));
        assert_eq!(refused(no_id), "metadata[0].id: required (ExternalId.json)");
    }

    #[test]
    fn metadata_is_an_array_of_typed_objects() {
        let base = frame("GetClock", json!({}));
        assert!(refused(with(base.clone(), "metadata", json!({"type": "ExternalId", "id": "a"})))
            .starts_with("metadata: must be null or an array"));
        assert!(refused(with(base.clone(), "metadata", json!(["ExternalId"]))).starts_with("metadata[0]: must be an object"));
        assert!(refused(with(base.clone(), "metadata", json!([{"id": "a"}]))).starts_with("metadata[0].type: required"));
        assert!(refused(with(base.clone(), "metadata", json!([{"type": "ActionReason", "reason": "r".repeat(65)}])))
            .starts_with("metadata[0].reason: must be 0 to 64 characters"));
        let intents = json!([{"type": "BotResponse", "intents": [{"id": "i", "confidence": 1.5}]}]);
        assert!(refused(with(base.clone(), "metadata", intents)).starts_with("metadata[0].intents[0].confidence: must be between 0 and 1"));
        assert_eq!(
            check(with(base, "metadata", json!([{"type": "EscalationSummary", "anything": [1, 2]}]))),
            Ok(()),
            "other types need only a type"
        );
    }

    #[test]
    fn encoded_metadata_is_base64_of_at_most_5_kb_and_headers_are_objects() {
        let base = frame("GetClock", json!({}));
        assert_eq!(
            refused(with(base.clone(), "encodedMetadata", json!("not base64!"))),
            "encodedMetadata: must be base64 (encodedMetadata, spec §3.2)"
        );
        assert!(
            refused(with(base.clone(), "encodedMetadata", json!({"a": 1}))).starts_with("encodedMetadata: must be null or a base64 string")
        );
        assert!(refused(with(base.clone(), "encodedMetadata", json!("QUFB".repeat(1281))))
            .starts_with("encodedMetadata: must be at most 5120 bytes, not 5124"));
        assert_eq!(check(with(base.clone(), "encodedMetadata", json!("QUFB".repeat(1280)))), Ok(()));
        assert_eq!(check(with(base.clone(), "headers", json!([{"type": ".ams.headers.ClientProperties"}]))), Ok(()));
        assert!(refused(with(base, "headers", json!("x"))).starts_with("headers: must be null, an object or an array of objects"));
    }

    #[test]
    fn published_events_follow_their_schema() {
        assert!(refused(frame("ms.PublishEvent", json!({"event": {}}))).starts_with("dialogId: required (PublishEvent.json)"));
        assert!(refused(frame("ms.PublishEvent", json!({"dialogId": "d"}))).starts_with("event: required"));
        assert!(refused(publish(json!({"type": "Shout"}))).starts_with("event.type: must be one of ContentEvent"));
        assert_eq!(refused(publish(json!({"type": "ContentEvent", "message": "x"}))), "event.contentType: required (TextValue.json)");
        assert!(refused(publish(json!({"type": "ContentEvent", "contentType": "text/plain", "message": 7})))
            .starts_with("event.message: must be a string"));
        assert!(refused(publish(
            json!({"type": "ContentEvent", "contentType": "hosted/file", "message": {"relativePath": "/p", "fileType": "PNG"}})
        ))
        .starts_with("event.message.caption: required (HostedFile.json)"));
        assert!(refused(publish(json!({"type": "ContentEvent", "contentType": "hosted/file", "message": {"caption": "", "relativePath": "/p", "fileType": "EXE"}}))).contains("fileType: must be one of"));
        assert!(refused(publish(json!({"type": "RichContentEvent", "content": "card"}))).starts_with("event.content: must be an object"));
        assert!(refused(publish(json!({"type": "AcceptStatusEvent", "status": "SEEN", "sequenceList": [1]})))
            .starts_with("event.status: must be one of ACCEPT, READ"));
        assert!(refused(publish(json!({"type": "AcceptStatusEvent", "status": "READ", "sequenceList": [-1]})))
            .starts_with("event.sequenceList: must be an array of non-negative integers"));
        assert!(refused(publish(json!({"type": "AcceptStatusEvent", "status": "READ"}))).starts_with("event.sequenceList: required"));
        assert!(refused(publish(json!({"type": "ChatStateEvent", "chatState": "SHOUTING"})))
            .starts_with("event.chatState: must be one of ACTIVE"));
        let private = frame(
            "ms.PublishEvent",
            json!({"dialogId": "d", "messageAudience": "EVERYONE", "event": {"type": "ChatStateEvent", "chatState": "ACTIVE"}}),
        );
        assert!(refused(private).starts_with("messageAudience: must be one of ALL, AGENTS_AND_MANAGERS"));
    }

    #[test]
    fn routing_subscription_and_other_bodies_follow_their_schema() {
        assert!(refused(frame("routing.SetAgentState", json!({}))).starts_with("availability: required (setAgentState.json)"));
        assert!(refused(frame("routing.SetAgentState", json!({"availability": "SLEEPY"})))
            .starts_with("availability: must be one of ONLINE, OCCUPIED, AWAY, BACK_SOON, OFFLINE"));
        assert!(refused(frame("routing.SetAgentState", json!({"availability": "ONLINE", "channels": "MESSAGING!", "agentUserId": 5})))
            .starts_with("agentUserId: must be a string"));
        assert!(refused(frame("routing.UpdateRingState", json!({"ringId": "r", "ringState": "MAYBE"})))
            .starts_with("ringState: must be one of ACCEPTED, REJECTED"));
        assert!(refused(frame("routing.UpdateRingState", json!({"ringState": "ACCEPTED"})))
            .starts_with("ringId: required (updateRingState.json)"));
        assert!(refused(frame("aam.SubscribeExConversations", json!({"convState": ["OPEN", "PENDING"]})))
            .starts_with("convState[1]: must be one of OPEN, CLOSE"));
        assert!(
            refused(frame("aam.SubscribeExConversations", json!({"agentIds": [1]}))).starts_with("agentIds: must be an array of strings")
        );
        assert!(refused(frame("aam.UnsubscribeExConversations", json!({"subscriptionId": "s".repeat(65)})))
            .starts_with("subscriptionId: must be 1 to 64 characters"));
        assert!(refused(frame("ms.QueryMessages", json!({}))).starts_with("dialogId: required (queryMessages.json)"));
        assert!(refused(frame("ms.QueryMessages", json!({"dialogId": "d", "newerThanSequence": "3"})))
            .starts_with("newerThanSequence: must be an integer"));
        assert!(refused(frame("userprofile.GetUserProfile", json!(7))).starts_with("body: must be the consumer id"));
        assert_eq!(check(frame("userprofile.GetUserProfile", json!({"userId": "c"}))), Ok(()));
        assert!(refused(frame("ms.GenerateURLForUploadFile", json!({"fileSize": 5_000_000, "fileType": "PNG"})))
            .starts_with("fileSize: must be between 0 and"));
        assert_eq!(
            check(frame("ms.GenerateURLForUploadFile", json!({"fileSize": "5020", "fileType": "PNG"}))),
            Ok(()),
            "the schema types fileSize as a string"
        );
        assert!(refused(frame("ms.GenerateURLForDownloadFile", json!({}))).starts_with("relativePath: required"));
        assert!(refused(frame("GetClock", json!([1]))).starts_with("body: must be an object"));
        assert_eq!(refused(frame(".ams.nope.Whatever", json!({}))), "type: unknown request type \"nope.Whatever\" (req.json)");
    }
}
