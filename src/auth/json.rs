//! Reading the few JSON members of a token's header and payload straight into their types, in
//! one pass, without a tree of the rest (feature `jwt`).
//!
//! A token's header is `{"alg": ..., "kid": ...}` and its payload a handful of claims; ssehub
//! reads a fixed set of members and ignores the others. Parsing either into a
//! `serde_json::Value` built a map, a string per key and a value per member, all thrown away a
//! moment later: on an HS256 token seen the first time that was most of the check's time (the
//! HMAC itself is a few hundred nanoseconds). Here an object is read by a [`Members`] that takes
//! the members it knows, each straight into its type, and skips the rest (still checked to be
//! JSON).
//!
//! # A name twice: the last counts
//! RFC 7519 §4 (and RFC 7515 §4 for the header) lets a parser either refuse a duplicate name or
//! use the lexically last one; ssehub reads the last, as a map of the object would. So a value
//! of the wrong type is not an error the moment it is read — a later member of the same name may
//! replace it — but a [`Read::Wrong`], which becomes [`BadToken::Malformed`] only if it is the
//! value that counts: `{"exp":"x","exp":2}` reads `exp` as 2, `{"exp":2,"exp":"x"}` is
//! malformed. Member names are compared after JSON unescaping (`"\u0065xp"` is `exp`).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};

use super::pattern::{ChannelPattern, MAX_PATTERNS, Patterns};
use super::refusal::BadToken;

/// A member's value as read: of the type wanted, or of another (see the [module docs](self)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Read<T> {
    /// Of the type wanted.
    Good(T),
    /// Of another type, or (for a list) with an element of another type or too many.
    Wrong,
}

impl<T> Read<T> {
    /// The value, if it is the one wanted; absent is `None`.
    pub(crate) fn take(read: Option<Read<T>>) -> Result<Option<T>, BadToken> {
        match read {
            None => Ok(None),
            Some(Read::Good(value)) => Ok(Some(value)),
            Some(Read::Wrong) => Err(BadToken::Malformed),
        }
    }
}

/// The members an object is read for: [`Members::member`] is called with each name in turn.
pub(crate) trait Members<'de>: Default {
    /// Reads the value of the member `name` with `map.next_value()` (a name it does not know:
    /// [`skip`]).
    fn member<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<(), A::Error>;
}

/// Skips a member's value (still checked to be JSON).
pub(crate) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// Reads the JSON object `json` with `M`; [`BadToken::Malformed`] unless `json` is exactly one
/// JSON object (any JSON inside it) in UTF-8.
pub(crate) fn object<'de, M: Members<'de>>(json: &'de [u8]) -> Result<M, BadToken> {
    // All of it, the members skipped too (serde_json does not check the UTF-8 of a string it
    // skips); once checked, serde_json need not check each string again.
    let json = std::str::from_utf8(json).map_err(|_| BadToken::Malformed)?;
    let mut de = serde_json::Deserializer::from_str(json);
    let read = (&mut de).deserialize_map(ObjectVisitor::<M>(PhantomData)).map_err(|_| BadToken::Malformed)?;
    de.end().map_err(|_| BadToken::Malformed)?;
    match read {
        Read::Good(members) => Ok(members),
        Read::Wrong => Err(BadToken::Malformed),
    }
}

/// A JSON string, borrowed from the input unless it had escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

/// A NumericDate (RFC 7519 §2) as whole seconds, rounded up (so that `now < exp` and
/// `now >= nbf` read the same for a whole-second `now`); a negative one is 0, one past `u64` is
/// `u64::MAX`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seconds(pub(crate) u64);

/// A string or an array of strings (`aud`, RFC 7519 §4.1.3), as a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct OneOrMany<'a>(pub(crate) Vec<Text<'a>>);

/// The values of the wrong type for a visitor, each [`Read::Wrong`] (a list or an object is
/// skipped to its end).
macro_rules! wrong {
    ($($kind:ident)*) => { $(wrong!(@$kind);)* };
    (@bool) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> { Ok(Read::Wrong) }
    };
    (@number) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> { Ok(Read::Wrong) }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> { Ok(Read::Wrong) }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> { Ok(Read::Wrong) }
    };
    (@str) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> { Ok(Read::Wrong) }
    };
    (@null) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> { Ok(Read::Wrong) }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> { Ok(Read::Wrong) }
    };
    (@list) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Read::Wrong)
        }
    };
    (@object) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Read::Wrong)
        }
    };
}

/// Reads a member's value as `T` (one of the types above, or a [`Members`] object).
impl<'de, T> Deserialize<'de> for Read<T>
where
    Want<T>: Visitor<'de, Value = Read<T>>,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Read<T>, D::Error> {
        deserializer.deserialize_any(Want(PhantomData))
    }
}

/// The visitor reading a `Read<T>`.
pub(crate) struct Want<T>(PhantomData<T>);

impl<'de> Visitor<'de> for Want<Text<'de>> {
    type Value = Read<Text<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Read::Good(Text(Cow::Borrowed(s))))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Read::Good(Text(Cow::Owned(s.to_owned()))))
    }
    wrong!(bool number null list object);
}

impl<'de> Visitor<'de> for Want<String> {
    type Value = Read<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Read::Good(s.to_owned()))
    }
    wrong!(bool number null list object);
}

impl<'de> Visitor<'de> for Want<Seconds> {
    type Value = Read<Seconds>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_u64<E: de::Error>(self, secs: u64) -> Result<Self::Value, E> {
        Ok(Read::Good(Seconds(secs)))
    }
    fn visit_i64<E: de::Error>(self, secs: i64) -> Result<Self::Value, E> {
        Ok(Read::Good(Seconds(u64::try_from(secs).unwrap_or(0))))
    }
    fn visit_f64<E: de::Error>(self, secs: f64) -> Result<Self::Value, E> {
        // `as` saturates: 1e300 is u64::MAX, a negative number is 0. (serde_json refuses a
        // number too large for an f64, such as 1e400, as not JSON it can read.)
        Ok(if secs.is_finite() { Read::Good(Seconds(secs.ceil() as u64)) } else { Read::Wrong })
    }
    wrong!(bool str null list object);
}

impl<'de> Visitor<'de> for Want<OneOrMany<'de>> {
    type Value = Read<OneOrMany<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Read::Good(OneOrMany(vec![Text(Cow::Borrowed(s))])))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Read::Good(OneOrMany(vec![Text(Cow::Owned(s.to_owned()))])))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = Some(Vec::new());
        while let Some(element) = seq.next_element::<Read<Text<'de>>>()? {
            match (element, &mut list) {
                (Read::Good(s), Some(list)) => list.push(s),
                _ => list = None,
            }
        }
        Ok(list.map_or(Read::Wrong, |list| Read::Good(OneOrMany(list))))
    }
    wrong!(bool number null object);
}

/// A list of at most [`MAX_PATTERNS`] channel patterns.
impl<'de> Visitor<'de> for Want<Patterns> {
    type Value = Read<Patterns>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of at most {MAX_PATTERNS} channel patterns")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut list = Some(Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_PATTERNS)));
        while let Some(element) = seq.next_element::<Read<Text<'de>>>()? {
            let Some(patterns) = &mut list else { continue };
            match element {
                Read::Good(Text(text)) if patterns.len() < MAX_PATTERNS => match ChannelPattern::parse(&text)
                {
                    Ok(pattern) => patterns.push(pattern),
                    Err(_) => list = None,
                },
                _ => list = None,
            }
        }
        Ok(list.map_or(Read::Wrong, |list| Read::Good(Patterns::from_parsed(list))))
    }
    wrong!(bool number str null object);
}

/// An object read by its [`Members`].
struct ObjectVisitor<M>(PhantomData<M>);

impl<'de, M: Members<'de>> Visitor<'de> for ObjectVisitor<M> {
    type Value = Read<M>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = M::default();
        while let Some(Text(name)) = map.next_key_seed(Key)? {
            members.member(&name, &mut map)?;
        }
        Ok(Read::Good(members))
    }
    wrong!(bool number str null list);
}

/// A nested object, as a member's value.
impl<'de, M: Members<'de>> Visitor<'de> for Want<M> {
    type Value = Read<M>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        ObjectVisitor(PhantomData).visit_map(map)
    }
    wrong!(bool number str null list);
}

/// A member name: a string, borrowed unless it had escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Text<'de>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Text<'de>, D::Error> {
        match Read::<Text<'de>>::deserialize(deserializer)? {
            Read::Good(name) => Ok(name),
            // serde_json's member names are always strings.
            Read::Wrong => Err(de::Error::custom("a member name that is not a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `v` as a `T`.
    struct One<T> {
        v: Option<Read<T>>,
    }

    impl<T> Default for One<T> {
        fn default() -> One<T> {
            One { v: None }
        }
    }

    impl<'de, T> Members<'de> for One<T>
    where
        Read<T>: Deserialize<'de>,
    {
        fn member<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<(), A::Error> {
            match name {
                "v" => self.v = Some(map.next_value()?),
                _ => skip(map)?,
            }
            Ok(())
        }
    }

    fn read<'a, T>(json: &'a str) -> Result<Option<T>, BadToken>
    where
        Read<T>: Deserialize<'a>,
    {
        Read::take(object::<One<T>>(json.as_bytes())?.v)
    }

    #[test]
    fn wanted_members_and_the_rest_skipped() {
        let json = r#"{"a":1,"b":{"deep":[1,{"x":null}]},"v":"t\"x","d":[true,false]}"#;
        assert_eq!(read::<String>(json), Ok(Some("t\"x".to_owned())));
        assert_eq!(read::<String>("{}"), Ok(None));
        assert_eq!(read::<Seconds>(" { \"v\" : 2 } "), Ok(Some(Seconds(2))));
    }

    #[test]
    fn the_last_of_a_name_counts_and_names_are_unescaped() {
        assert_eq!(read::<Seconds>(r#"{"v":"x","v":2}"#), Ok(Some(Seconds(2))));
        assert_eq!(read::<Seconds>(r#"{"v":2,"v":{"b":[]}}"#), Err(BadToken::Malformed));
        assert_eq!(read::<Seconds>(r#"{"v":[1],"v":{"b":[]},"v":3}"#), Ok(Some(Seconds(3))));
        assert_eq!(read::<Seconds>(r#"{"\u0076":5}"#), Ok(Some(Seconds(5))));
        assert_eq!(read::<Seconds>(r#"{"v\n":5}"#), Ok(None));
    }

    #[test]
    fn anything_but_one_object_is_malformed() {
        for json in [
            "",
            "null",
            "[]",
            "\"a\"",
            "5",
            "{",
            "{\"v\":}",
            "{\"v\":1,}",
            "{\"v\" 1}",
            "{} {}",
            "{}x",
            "{\"v\":tru}",
            "{\"v\":[1,]}",
            "{'v':1}",
            "{v:1}",
            "{\"a\":[1,]}",
            "{\"a\":{\"b\"}}",
        ] {
            assert_eq!(read::<String>(json), Err(BadToken::Malformed), "{json:?}");
        }
        for json in [&b"{\"v\":\"\xff\"}"[..], b"{\"\xff\":1}", b"{\"a\":\"\xff\"}"] {
            assert_eq!(object::<One<String>>(json).map(|_| ()), Err(BadToken::Malformed), "not UTF-8");
        }
    }

    #[test]
    fn values_have_exact_types() {
        let text = |json: &str| read::<Text>(json).map(|t| t.map(|t| t.0.into_owned()));
        assert_eq!(text(r#"{"v":"HS256"}"#), Ok(Some("HS256".to_owned())));
        assert_eq!(text(r#"{"v":"HS\u0032"}"#), Ok(Some("HS2".to_owned())), "escapes: owned");
        for bad in
            [r#"{"v":null}"#, r#"{"v":5}"#, r#"{"v":["a"]}"#, r#"{"v":{}}"#, r#"{"v":true}"#, r#"{"v":-1.5}"#]
        {
            assert_eq!(text(bad), Err(BadToken::Malformed), "{bad}");
            assert_eq!(read::<String>(bad), Err(BadToken::Malformed), "{bad}");
        }
        let aud = |json: &str| {
            read::<OneOrMany>(json)
                .map(|a| a.map(|a| a.0.into_iter().map(|t| t.0.into_owned()).collect::<Vec<_>>()))
        };
        assert_eq!(aud(r#"{"v":"a"}"#), Ok(Some(vec!["a".to_owned()])));
        assert_eq!(aud(r#"{"v":"a"}"#), Ok(Some(vec!["a".to_owned()])));
        assert_eq!(aud(r#"{"v":["a","b"]}"#), Ok(Some(vec!["a".to_owned(), "b".to_owned()])));
        assert_eq!(aud(r#"{"v":[]}"#), Ok(Some(vec![])));
        for bad in [r#"{"v":null}"#, r#"{"v":["a",5]}"#, r#"{"v":5}"#, r#"{"v":[null]}"#, r#"{"v":{"a":1}}"#]
        {
            assert_eq!(aud(bad), Err(BadToken::Malformed), "{bad}");
        }
        let secs = |json: &str| read::<Seconds>(json).map(|s| s.map(|s| s.0));
        assert_eq!(secs(r#"{"v":-5}"#), Ok(Some(0)));
        assert_eq!(secs(r#"{"v":1.2}"#), Ok(Some(2)));
        assert_eq!(secs(r#"{"v":1e300}"#), Ok(Some(u64::MAX)));
        assert_eq!(secs(r#"{"v":1e400}"#), Err(BadToken::Malformed), "not a number serde_json reads");
        for bad in [r#"{"v":null}"#, r#"{"v":"1"}"#, r#"{"v":true}"#, r#"{"v":[1]}"#, r#"{"v":{}}"#] {
            assert_eq!(secs(bad), Err(BadToken::Malformed), "{bad}");
        }
    }

    #[test]
    fn pattern_lists_are_bounded_and_exact() {
        let list = |n: usize| format!(r#"{{"v":[{}]}}"#, vec![r#""a""#; n].join(","));
        assert_eq!(
            read::<Patterns>(&list(MAX_PATTERNS)).map(|p| p.map(|p| p.as_slice().len())),
            Ok(Some(MAX_PATTERNS))
        );
        assert_eq!(read::<Patterns>(&list(MAX_PATTERNS + 1)), Err(BadToken::Malformed));
        assert_eq!(read::<Patterns>(r#"{"v":["a","b*"]}"#), Ok(Some(Patterns::parse(["a", "b*"]).unwrap())));
        for bad in [r#"{"v":[""]}"#, r#"{"v":["a",1]}"#, r#"{"v":"a"}"#, r#"{"v":null}"#, r#"{"v":[["a"]]}"#]
        {
            assert_eq!(read::<Patterns>(bad), Err(BadToken::Malformed), "{bad}");
        }
    }

    #[test]
    fn nested_objects_read_lenient_too() {
        assert_eq!(
            read::<One<Seconds>>(r#"{"v":{"v":1}}"#).map(|o| o.map(|o| o.v)),
            Ok(Some(Some(Read::Good(Seconds(1)))))
        );
        assert_eq!(
            read::<One<Seconds>>(r#"{"v":[],"v":{"v":"x"}}"#).map(|o| o.map(|o| o.v)),
            Ok(Some(Some(Read::Wrong)))
        );
        assert_eq!(
            read::<One<Seconds>>(r#"{"v":{"v":1},"v":5}"#).map(|o| o.is_some()),
            Err(BadToken::Malformed)
        );
    }
}
