//! A secret in the configuration: inline, from an environment variable, or from a file. Its
//! value never appears in a message: not in `Debug`, not in a parse error (a bare string where a
//! secret table belongs is refused without echoing it), not in a validation problem.

use std::fmt;
use std::marker::PhantomData;
use std::path::PathBuf;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::small_file::{read_small_file, FileError, MAX_SECRET_FILE_BYTES};

/// What the admin API shows for an inline secret.
pub const REDACTED: &str = "***";

#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// `{ value = "…" }`
    Value(String),
    /// `{ env = "VARIABLE" }`
    Env(String),
    /// `{ file = "PATH" }`: the file's text, trimmed (a regular file of at most 64 KiB).
    File(PathBuf),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("the environment variable {0} is not set")]
    EnvUnset(String),
    #[error("the environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("{0} is empty")]
    FileEmpty(String),
    #[error("the inline value is empty")]
    ValueEmpty,
    #[error(transparent)]
    File(#[from] FileError),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(_) => f.write_str("Secret(***)"),
            Self::Env(env) => write!(f, "Secret(env {env})"),
            Self::File(file) => write!(f, "Secret(file {})", file.display()),
        }
    }
}

impl Secret {
    /// The secret's value, or what to fix. Reads a file: call it off any request or actor
    /// thread (the file is bounded and must be regular, but a disk can still be slow).
    pub fn resolve(&self) -> Result<String, SecretError> {
        match self {
            Self::Value(value) if value.is_empty() => Err(SecretError::ValueEmpty),
            Self::Value(value) => Ok(value.clone()),
            Self::Env(env) => match std::env::var(env) {
                Ok(value) if value.is_empty() => Err(SecretError::EnvEmpty(env.clone())),
                Ok(value) => Ok(value),
                Err(_) => Err(SecretError::EnvUnset(env.clone())),
            },
            Self::File(file) => {
                let text = read_small_file(file, MAX_SECRET_FILE_BYTES)?;
                let value = text.trim();
                if value.is_empty() {
                    return Err(SecretError::FileEmpty(file.display().to_string()));
                }
                Ok(value.to_owned())
            }
        }
    }

    /// The same secret, its inline value shown as `"***"`.
    pub fn redacted(&self) -> Secret {
        match self {
            Self::Value(_) => Self::Value(REDACTED.into()),
            other => other.clone(),
        }
    }

    /// Whether this is the `"***"` the API showed (an edit that keeps the old secret).
    pub fn is_redacted(&self) -> bool {
        matches!(self, Self::Value(value) if value == REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Self::Value(value) => map.serialize_entry("value", value)?,
            Self::Env(env) => map.serialize_entry("env", env)?,
            Self::File(file) => map.serialize_entry("file", file)?,
        }
        map.end()
    }
}

const EXPECTED: &str =
    "a secret as a table with one of value, env or file: { value = \"…\" }, { env = \"VARIABLE\" } or { file = \"PATH\" }";

/// Refuses anything but a table, never quoting what it got (it may be the secret itself).
struct SecretVisitor;

impl SecretVisitor {
    fn refuse<E: de::Error>(what: &str) -> E {
        E::custom(format_args!("{what} given where {EXPECTED} belongs (the value is not shown)"))
    }
}

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(EXPECTED)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Secret, E> {
        Err(Self::refuse("a bare string"))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Secret, E> {
        Err(Self::refuse("bytes"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(Self::refuse("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(Self::refuse("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(Self::refuse("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(Self::refuse("a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Secret, E> {
        Err(Self::refuse("null"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(Self::refuse("a list"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Secret, A::Error> {
        let mut secret = None;
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<SecretText>()?.0;
            let next = match key.as_str() {
                "value" => Secret::Value(value),
                "env" => Secret::Env(value),
                "file" => Secret::File(PathBuf::from(value)),
                other => return Err(de::Error::custom(format_args!("unknown field `{other}`: {EXPECTED}"))),
            };
            if secret.replace(next).is_some() {
                return Err(de::Error::custom(format_args!("give only one of value, env or file: {EXPECTED}")));
            }
        }
        secret.ok_or_else(|| de::Error::custom(format_args!("an empty table: {EXPECTED}")))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

/// A secret table's string, refused without being quoted when it is something else.
struct SecretText(String);

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = SecretText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<SecretText, E> {
                Ok(SecretText(text.to_owned()))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<SecretText, E> {
                Ok(SecretText(text))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<SecretText, E> {
                Err(E::custom("a secret's value, env or file must be a string (the value is not shown)"))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<SecretText, E> {
                Err(E::custom("a secret's value, env or file must be a string (the value is not shown)"))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<SecretText, E> {
                Err(E::custom("a secret's value, env or file must be a string (the value is not shown)"))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<SecretText, E> {
                Err(E::custom("a secret's value, env or file must be a string (the value is not shown)"))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// Reads `T`, a choice written as a table (`auth = { password = { … } }`), only from a table
/// with one key. Anything else is refused without being quoted: a user who writes
/// `auth = "…"` may have put a password there, and serde's derived enum would echo it back as an
/// "unknown variant".
pub fn table_only<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<T, D::Error> {
    struct TableVisitor<T>(PhantomData<T>);
    const NOT_A_TABLE: &str =
        "expected a table naming how to authenticate, such as `{ password = { env = \"…\" } }` (the value given is not shown)";
    impl<'de, T: Deserialize<'de>> Visitor<'de> for TableVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a table")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
            let choice = T::deserialize(de::value::MapAccessDeserializer::new(&mut map))?;
            // Read straight through, a second choice would be ignored: refuse it.
            if map.next_key::<de::IgnoredAny>()?.is_some() {
                return Err(de::Error::custom("give one way to authenticate, not several"));
            }
            Ok(choice)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<T, E> {
            Err(E::custom(NOT_A_TABLE))
        }
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<T, E> {
            Err(E::custom(NOT_A_TABLE))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
            Err(E::custom(NOT_A_TABLE))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<T, E> {
            Err(E::custom(NOT_A_TABLE))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<T, E> {
            Err(E::custom(NOT_A_TABLE))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<T, E> {
            Err(E::custom(NOT_A_TABLE))
        }
        fn visit_unit<E: de::Error>(self) -> Result<T, E> {
            Err(E::custom(NOT_A_TABLE))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
            Err(de::Error::custom(NOT_A_TABLE))
        }
    }
    deserializer.deserialize_any(TableVisitor(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    #[allow(dead_code)]
    enum Auth {
        Password(Secret),
        Token(Secret),
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct AuthHolder {
        #[serde(deserialize_with = "table_only")]
        auth: Auth,
    }

    #[test]
    fn a_choice_written_as_anything_but_a_table_is_refused_without_being_quoted() {
        for text in [r#"auth = "hunter2""#, "auth = 123456789", "auth = [\"hunter2\"]", "auth = true"] {
            // (TOML's own report quotes the source line; `check-config` shows only the message.)
            let error = toml::from_str::<AuthHolder>(text).unwrap_err().message().to_owned();
            assert!(!error.contains("hunter2") && !error.contains("123456789"), "{text}: {error}");
            assert!(error.contains("not shown"), "{text}: {error}");
        }
        let both =
            toml::from_str::<AuthHolder>(r#"auth = { password = { value = "a" }, token = { value = "b" } }"#).unwrap_err().to_string();
        assert!(both.contains("not several"), "two choices at once are refused: {both}");
        let one = toml::from_str::<AuthHolder>(r#"auth = { token = { env = "X" } }"#).unwrap();
        assert!(matches!(one.auth, Auth::Token(Secret::Env(_))));
        let json = serde_json::from_str::<AuthHolder>(r#"{"auth": "hunter2"}"#).unwrap_err().to_string();
        assert!(!json.contains("hunter2"), "{json}");
    }

    #[derive(Debug, Deserialize)]
    struct Holder {
        #[allow(dead_code)]
        password: Secret,
    }

    #[test]
    fn a_bare_or_mistyped_secret_is_refused_without_echoing_it() {
        for toml_text in
            ["password = \"hunter2-secret\"", "password = 987654321", "password = { value = 987654321 }", "password = { value = true }"]
        {
            // The message alone, as check-config and the admin API report it (toml's Display
            // would quote the source line).
            let message = toml::from_str::<Holder>(toml_text).unwrap_err().message().to_owned();
            assert!(!message.contains("hunter2") && !message.contains("987654321"), "{message}");
            assert!(message.contains("not shown"), "{message}");
        }
        let message = serde_json::from_str::<Holder>(r#"{"password": "hunter2-secret"}"#).unwrap_err().to_string();
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn exactly_one_source() {
        let both = toml::from_str::<Holder>("password = { value = \"a\", env = \"B\" }").unwrap_err().to_string();
        assert!(both.contains("only one of"), "{both}");
        let none = toml::from_str::<Holder>("password = {}").unwrap_err().to_string();
        assert!(none.contains("empty table"), "{none}");
        let holder: Holder = toml::from_str("password = { env = \"BOTVISOR_X\" }").unwrap();
        assert_eq!(holder.password, Secret::Env("BOTVISOR_X".into()));
    }

    #[test]
    fn unset_and_empty_secrets_are_errors() {
        assert_eq!(
            Secret::Env("BOTVISOR_TEST_SURELY_UNSET".into()).resolve(),
            Err(SecretError::EnvUnset("BOTVISOR_TEST_SURELY_UNSET".into()))
        );
        assert_eq!(Secret::Value(String::new()).resolve(), Err(SecretError::ValueEmpty));
        assert!(matches!(Secret::File("/dev/zero".into()).resolve(), Err(SecretError::File(FileError::NotRegular { .. }))));
    }

    #[test]
    fn serialized_as_the_table_it_was_read_from_and_redacted() {
        let secret = Secret::Value("pw".into());
        assert_eq!(serde_json::to_value(&secret).unwrap(), serde_json::json!({"value": "pw"}));
        assert_eq!(serde_json::to_value(secret.redacted()).unwrap(), serde_json::json!({"value": "***"}));
        assert!(secret.redacted().is_redacted());
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }
}
