//! Field types for reading frames into typed structs as leniently as `serde_json::Value`'s
//! accessors did: a field of an unexpected type reads as absent instead of failing the whole
//! frame (a consumer's message must not be lost because a field botvisor does not need is odd).
//! Strings are borrowed from the frame's text where they have no escapes.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string field; absent, `null` or of another type reads as `None`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Str<'a>(pub Option<Cow<'a, str>>);

impl<'a> Str<'a> {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// A non-negative integer field (as `Value::as_u64`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct U64(pub Option<u64>);

/// A signed integer field (as `Value::as_i64`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct I64(pub Option<i64>);

/// A nested object read as `T` (whose fields should be lenient too); anything else is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object<T>(pub Option<T>);

impl<T> Default for Object<T> {
    fn default() -> Self {
        Self(None)
    }
}

/// What every lenient visitor does with a value of a type it does not take: skips it whole.
macro_rules! skip_other_types {
    ($none:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($none)
        }
    };
}

macro_rules! skip_strings {
    ($none:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
}

macro_rules! skip_maps {
    ($none:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($none)
        }
    };
}

macro_rules! skip_numbers {
    ($none:expr) => {
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for StrVisitor<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Some(Cow::Owned(v))))
            }
            skip_other_types!(Str(None));
            skip_numbers!(Str(None));
            skip_maps!(Str(None));
        }
        deserializer.deserialize_any(StrVisitor(PhantomData))
    }
}

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct U64Visitor;
        impl<'de> Visitor<'de> for U64Visitor {
            type Value = U64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(U64(Some(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(U64(u64::try_from(v).ok()))
            }
            skip_other_types!(U64(None));
            skip_strings!(U64(None));
            skip_maps!(U64(None));
        }
        deserializer.deserialize_any(U64Visitor)
    }
}

impl<'de> Deserialize<'de> for I64 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct I64Visitor;
        impl<'de> Visitor<'de> for I64Visitor {
            type Value = I64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(I64(i64::try_from(v).ok()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(I64(Some(v)))
            }
            skip_other_types!(I64(None));
            skip_strings!(I64(None));
            skip_maps!(I64(None));
        }
        deserializer.deserialize_any(I64Visitor)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = Object<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|t| Object(Some(t)))
            }
            skip_other_types!(Object(None));
            skip_strings!(Object(None));
            skip_numbers!(Object(None));
        }
        deserializer.deserialize_any(ObjectVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Inner<'a> {
        #[serde(borrow)]
        role: Str<'a>,
    }

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Fields<'a> {
        #[serde(borrow)]
        name: Str<'a>,
        count: U64,
        at: I64,
        #[serde(borrow)]
        inner: Object<Inner<'a>>,
    }

    #[test]
    fn a_field_of_another_type_reads_as_absent_and_the_rest_is_read() {
        for odd in ["null", "7", "-1", "1.5", "true", "[1, [2], {\"a\": 3}]", "{\"x\": {\"y\": [1]}}"] {
            let text = format!(r#"{{"name": {odd}, "count": {odd}, "at": {odd}, "inner": {odd}, "after": "still read"}}"#);
            let fields: Fields = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{odd}: {e}"));
            assert!(fields.name.0.is_none(), "{odd}");
            assert!(fields.inner.0.is_none() || odd.starts_with('{'), "{odd}");
        }
        let fields: Fields =
            serde_json::from_str(r#"{"name": "plain", "count": 18446744073709551615, "at": -5, "inner": {"role": "CONSUMER"}}"#).unwrap();
        assert!(matches!(fields.name.0, Some(Cow::Borrowed("plain"))), "a string without escapes is borrowed");
        assert_eq!((fields.count, fields.at), (U64(Some(u64::MAX)), I64(Some(-5))));
        assert_eq!(fields.inner.0.unwrap().role.as_deref(), Some("CONSUMER"));
        let fields: Fields = serde_json::from_str(r#"{"name": "a\"b", "count": -1, "at": 18446744073709551615}"#).unwrap();
        assert_eq!(fields.name.as_deref(), Some("a\"b"));
        assert_eq!((fields.count, fields.at), (U64(None), I64(None)), "out of range reads as absent, as Value's accessors");
    }
}
