//! Channel patterns: what a grant (or the list of public channels) covers.
//!
//! A pattern is one of three forms:
//!
//! | pattern | matches |
//! |---|---|
//! | `*` | every channel |
//! | `room-*`, `user/42/*` (ends in `*`) | every channel that starts with the text before the `*`, that text itself included (`room-*` matches `room-` and `room-7`) |
//! | anything else (`news`, `a*b`) | that exact channel name, byte for byte |
//!
//! Only a *trailing* `*` is special. Channel names may hold any text (the hub allows 1 to
//! [`MAX_CHANNEL_NAME`] bytes), `*` included, so `a*b` is the channel named `a*b`, and `a**` is
//! the prefix `a*`. No other character is special: there is no escaping, no `?`, no character
//! classes, and matching is case-sensitive, so a pattern means what it says.
//!
//! Bounds: a pattern is 1 to [`MAX_PATTERN_LEN`] bytes, a [`Patterns`] list holds at most
//! [`MAX_PATTERNS`]. [`ChannelPattern::matches`] allocates nothing.

use std::fmt;

use crate::hub::MAX_CHANNEL_NAME;

/// Longest pattern, in bytes: the longest channel name and a `*`.
pub const MAX_PATTERN_LEN: usize = MAX_CHANNEL_NAME + 1;

/// Most patterns in one list (a token's `subscribe` or `publish`, or the public channels).
pub const MAX_PATTERNS: usize = 128;

/// One channel pattern.
///
/// ```
/// use ssehub::auth::ChannelPattern;
///
/// let p: ChannelPattern = "room-*".parse()?;
/// assert!(p.matches("room-7") && p.matches("room-") && !p.matches("room"));
/// assert!("*".parse::<ChannelPattern>()?.matches("anything"));
/// assert!("a*b".parse::<ChannelPattern>()?.matches("a*b"));
/// assert!(!"a*b".parse::<ChannelPattern>()?.matches("axb"));
/// # Ok::<(), ssehub::auth::PatternError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChannelPattern {
    /// `*`: every channel.
    All,
    /// `text*`: channels that start with `text` (kept without the `*`).
    Prefix(String),
    /// A channel name, matched exactly.
    Exact(String),
}

/// Why a pattern (or a list) is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternError {
    /// The empty string.
    Empty,
    /// Longer than [`MAX_PATTERN_LEN`] bytes.
    TooLong,
    /// More than [`MAX_PATTERNS`] in one list.
    TooMany,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PatternError::Empty => f.write_str("a channel pattern cannot be empty"),
            PatternError::TooLong => write!(f, "a channel pattern is at most {MAX_PATTERN_LEN} bytes"),
            PatternError::TooMany => write!(f, "at most {MAX_PATTERNS} channel patterns"),
        }
    }
}

impl std::error::Error for PatternError {}

impl ChannelPattern {
    /// Parses one pattern (see the [module table](self)).
    pub fn parse(text: &str) -> Result<ChannelPattern, PatternError> {
        if text.is_empty() {
            return Err(PatternError::Empty);
        }
        if text.len() > MAX_PATTERN_LEN {
            return Err(PatternError::TooLong);
        }
        Ok(match text.strip_suffix('*') {
            Some("") => ChannelPattern::All,
            Some(prefix) => ChannelPattern::Prefix(prefix.to_owned()),
            None => ChannelPattern::Exact(text.to_owned()),
        })
    }

    /// Whether `channel` is covered.
    pub fn matches(&self, channel: &str) -> bool {
        match self {
            ChannelPattern::All => true,
            ChannelPattern::Prefix(prefix) => channel.starts_with(prefix.as_str()),
            ChannelPattern::Exact(name) => channel == name,
        }
    }
}

impl std::str::FromStr for ChannelPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<ChannelPattern, PatternError> {
        ChannelPattern::parse(text)
    }
}

impl fmt::Display for ChannelPattern {
    /// The pattern as it was written.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelPattern::All => f.write_str("*"),
            ChannelPattern::Prefix(prefix) => write!(f, "{prefix}*"),
            ChannelPattern::Exact(name) => f.write_str(name),
        }
    }
}

/// A list of patterns: a channel is covered when any of them matches it. The empty list covers
/// nothing.
///
/// ```
/// use ssehub::auth::Patterns;
///
/// let p = Patterns::parse(["news", "user/42/*"])?;
/// assert!(p.matches("news") && p.matches("user/42/inbox"));
/// assert!(!p.matches("user/43/inbox") && !Patterns::default().matches("news"));
/// # Ok::<(), ssehub::auth::PatternError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Patterns(Vec<ChannelPattern>);

impl Patterns {
    /// Parses a list of at most [`MAX_PATTERNS`] patterns.
    pub fn parse<I>(texts: I) -> Result<Patterns, PatternError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut list = Vec::new();
        for text in texts {
            if list.len() == MAX_PATTERNS {
                return Err(PatternError::TooMany);
            }
            list.push(ChannelPattern::parse(text.as_ref())?);
        }
        Ok(Patterns(list))
    }

    /// Patterns parsed one by one (by a token's claims), at most [`MAX_PATTERNS`] of them.
    #[cfg(feature = "jwt")]
    pub(crate) fn from_parsed(list: Vec<ChannelPattern>) -> Patterns {
        debug_assert!(list.len() <= MAX_PATTERNS);
        Patterns(list)
    }

    /// The list `*`: every channel.
    pub fn all() -> Patterns {
        Patterns(vec![ChannelPattern::All])
    }

    /// Whether any pattern matches `channel`.
    pub fn matches(&self, channel: &str) -> bool {
        self.0.iter().any(|p| p.matches(channel))
    }

    /// The patterns, in the order given.
    pub fn as_slice(&self) -> &[ChannelPattern] {
        &self.0
    }

    /// Whether the list is empty (covers nothing).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> ChannelPattern {
        ChannelPattern::parse(text).unwrap()
    }

    #[test]
    fn the_three_forms() {
        assert_eq!(p("*"), ChannelPattern::All);
        assert_eq!(p("room-*"), ChannelPattern::Prefix("room-".into()));
        assert_eq!(p("user/42/*"), ChannelPattern::Prefix("user/42/".into()));
        assert_eq!(p("news"), ChannelPattern::Exact("news".into()));
    }

    #[test]
    fn only_a_trailing_star_is_special() {
        assert_eq!(p("a*b"), ChannelPattern::Exact("a*b".into()));
        assert!(p("a*b").matches("a*b"));
        assert!(!p("a*b").matches("ab") && !p("a*b").matches("axb") && !p("a*b").matches("a*bc"));
        assert_eq!(p("*a"), ChannelPattern::Exact("*a".into()));
        assert!(!p("*a").matches("ba"));
        assert_eq!(p("a**"), ChannelPattern::Prefix("a*".into()));
        assert!(p("a**").matches("a*") && p("a**").matches("a*z") && !p("a**").matches("az"));
        assert_eq!(p("**"), ChannelPattern::Prefix("*".into()));
        assert!(p("**").matches("*x") && !p("**").matches("x"));
    }

    #[test]
    fn star_alone_matches_everything() {
        for channel in ["", "a", "*", "room-1", "user/42/x", "é", &"x".repeat(MAX_CHANNEL_NAME)] {
            assert!(p("*").matches(channel), "{channel:?}");
        }
    }

    #[test]
    fn prefix_matches_itself_and_longer_names_only() {
        let room = p("room-*");
        assert!(room.matches("room-") && room.matches("room-1") && room.matches("room-*"));
        assert!(!room.matches("room") && !room.matches("Room-1") && !room.matches("xroom-1"));
        assert!(!room.matches(""));
    }

    #[test]
    fn exact_is_byte_for_byte() {
        let news = p("news");
        assert!(news.matches("news"));
        assert!(!news.matches("News") && !news.matches("news ") && !news.matches("new") && !news.matches(""));
        // No Unicode normalisation: "é" precomposed is not "e" + combining acute.
        assert!(!p("\u{e9}").matches("e\u{301}"));
    }

    #[test]
    fn bounds() {
        assert_eq!(ChannelPattern::parse(""), Err(PatternError::Empty));
        let longest = format!("{}*", "x".repeat(MAX_CHANNEL_NAME));
        assert_eq!(longest.len(), MAX_PATTERN_LEN);
        assert!(p(&longest).matches(&"x".repeat(MAX_CHANNEL_NAME)));
        assert_eq!(ChannelPattern::parse(&format!("{longest}x")), Err(PatternError::TooLong));
        // The bound is in bytes: 129 two-byte characters are 258 bytes.
        assert_eq!(ChannelPattern::parse(&"é".repeat(129)), Err(PatternError::TooLong));

        let most = vec!["a"; MAX_PATTERNS];
        assert_eq!(Patterns::parse(&most).unwrap().as_slice().len(), MAX_PATTERNS);
        let too_many = vec!["a"; MAX_PATTERNS + 1];
        assert_eq!(Patterns::parse(&too_many), Err(PatternError::TooMany));
        assert_eq!(Patterns::parse(["a", ""]), Err(PatternError::Empty));
    }

    #[test]
    fn display_gives_back_the_text() {
        for text in ["*", "room-*", "a*b", "a**", "news", "**"] {
            assert_eq!(p(text).to_string(), text);
            assert_eq!(p(&p(text).to_string()), p(text));
        }
    }

    #[test]
    fn lists() {
        let empty = Patterns::parse(Vec::<String>::new()).unwrap();
        assert!(empty.is_empty() && !empty.matches("a") && empty == Patterns::default());
        assert!(Patterns::all().matches("anything"));
        let list = Patterns::parse(["news", "room-*"]).unwrap();
        assert!(list.matches("news") && list.matches("room-3"));
        assert!(!list.matches("sports") && !list.matches("room"));
    }
}
