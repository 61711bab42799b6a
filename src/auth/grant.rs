//! What a verified token allows: [`Grant`], and the decisions made with it. (A JWT's claims
//! become a grant in [`Verifier::verify`](crate::auth::Verifier::verify), with the `jwt` feature.)

use super::pattern::Patterns;
use super::refusal::Refusal;

/// What a token grants.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grant {
    /// The token's `sub`, if any (for logs; decisions never use it).
    pub subject: Option<String>,
    /// Channels the holder may read.
    pub subscribe: Patterns,
    /// Channels the holder may publish to.
    pub publish: Patterns,
    /// When the grant ends, in seconds since the Unix epoch: the token's `exp` plus the
    /// verifier's leeway, the first second at which [`Verifier::verify`] refuses the token. A
    /// stream opened with this grant is to be ended then. `None` for a token without `exp`
    /// (accepted only when the configuration allows it).
    ///
    /// [`Verifier::verify`]: crate::auth::Verifier::verify
    pub expires: Option<u64>,
}

impl Grant {
    /// Whether every one of `channels` matches a subscribe pattern; the first that does not is
    /// [`Refusal::Forbidden`].
    ///
    /// ```
    /// use ssehub::auth::{Grant, Patterns, Refusal};
    ///
    /// let grant = Grant { subscribe: Patterns::parse(["news", "room-*"])?, ..Grant::default() };
    /// assert_eq!(grant.may_subscribe(&["news", "room-1"]), Ok(()));
    /// assert_eq!(grant.may_subscribe(&["news", "sports"]), Err(Refusal::Forbidden { channel: "sports".into() }));
    /// # Ok::<(), ssehub::auth::PatternError>(())
    /// ```
    pub fn may_subscribe<S: AsRef<str>>(&self, channels: &[S]) -> Result<(), Refusal> {
        covered(&self.subscribe, channels)
    }

    /// Whether every one of `channels` matches a publish pattern; the first that does not is
    /// [`Refusal::Forbidden`].
    pub fn may_publish<S: AsRef<str>>(&self, channels: &[S]) -> Result<(), Refusal> {
        covered(&self.publish, channels)
    }
}

fn covered<S: AsRef<str>>(patterns: &Patterns, channels: &[S]) -> Result<(), Refusal> {
    match channels.iter().map(AsRef::as_ref).find(|c| !patterns.matches(c)) {
        None => Ok(()),
        Some(channel) => Err(Refusal::Forbidden { channel: channel.to_owned() }),
    }
}

/// Decides whether a stream may read `channels`, given the public channels and the token the
/// request presented (if any).
///
/// - Every channel is public: allowed, `Ok(None)`, and the token is not even looked at (an
///   expired cookie does not stop anyone reading public channels).
/// - Otherwise a token is needed: none is [`Refusal::NoToken`]; `verify` turns it into a grant
///   or a refusal; a channel that is neither public nor in the grant's subscribe patterns is
///   [`Refusal::Forbidden`]. Allowed: `Ok(Some(grant))`, and the stream ends at
///   [`Grant::expires`].
///
/// ```
/// use ssehub::auth::{Grant, Patterns, Refusal, authorize_stream};
///
/// let public = Patterns::parse(["news"])?;
/// let rooms = Grant { subscribe: Patterns::parse(["room-*"])?, ..Grant::default() };
/// let verify = |_: &str| Ok(rooms.clone());
/// assert_eq!(authorize_stream(&["news"], &public, None, verify), Ok(None));
/// assert_eq!(authorize_stream(&["news", "room-1"], &public, None, verify), Err(Refusal::NoToken));
/// assert!(authorize_stream(&["news", "room-1"], &public, Some("t"), verify)?.is_some());
/// assert_eq!(
///     authorize_stream(&["sports"], &public, Some("t"), verify),
///     Err(Refusal::Forbidden { channel: "sports".into() })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn authorize_stream<S: AsRef<str>>(
    channels: &[S],
    public: &Patterns,
    token: Option<&str>,
    verify: impl FnOnce(&str) -> Result<Grant, Refusal>,
) -> Result<Option<Grant>, Refusal> {
    if channels.iter().all(|c| public.matches(c.as_ref())) {
        return Ok(None);
    }
    let grant = verify(token.ok_or(Refusal::NoToken)?)?;
    let private: Vec<&str> = channels.iter().map(AsRef::as_ref).filter(|c| !public.matches(c)).collect();
    grant.may_subscribe(&private)?;
    Ok(Some(grant))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::BadToken;

    fn grant(subscribe: &[&str], publish: &[&str]) -> Grant {
        Grant {
            subscribe: Patterns::parse(subscribe).unwrap(),
            publish: Patterns::parse(publish).unwrap(),
            ..Grant::default()
        }
    }

    #[test]
    fn may_subscribe_and_publish_check_every_channel() {
        let g = grant(&["news", "room-*"], &["room-1"]);
        assert_eq!(g.may_subscribe(&["news", "room-2"]), Ok(()));
        assert_eq!(g.may_subscribe::<&str>(&[]), Ok(()));
        assert_eq!(g.may_subscribe(&["room-2", "x", "y"]), Err(Refusal::Forbidden { channel: "x".into() }));
        assert_eq!(g.may_publish(&["room-1"]), Ok(()));
        assert_eq!(g.may_publish(&["news"]), Err(Refusal::Forbidden { channel: "news".into() }));
        let none = Grant::default();
        assert_eq!(none.may_subscribe(&["default"]), Err(Refusal::Forbidden { channel: "default".into() }));
        // Channels as the hub hands them over.
        let arcs: Vec<std::sync::Arc<str>> = vec!["news".into()];
        assert_eq!(g.may_subscribe(&arcs), Ok(()));
    }

    #[test]
    fn stream_decisions() {
        let public = Patterns::parse(["public-*"]).unwrap();
        let good = |_: &str| Ok(grant(&["room-*"], &[]));
        let expired = |_: &str| Err(Refusal::BadToken(BadToken::Expired));
        let never = |_: &str| -> Result<Grant, Refusal> { panic!("the token is not needed") };

        // Public only: no token needed, and a bad one is not looked at.
        assert_eq!(authorize_stream(&["public-a"], &public, None, never), Ok(None));
        assert_eq!(authorize_stream(&["public-a", "public-b"], &public, Some("x"), never), Ok(None));
        // A private channel needs a good token covering it.
        assert_eq!(authorize_stream(&["room-1"], &public, None, good), Err(Refusal::NoToken));
        assert_eq!(
            authorize_stream(&["room-1"], &public, Some("x"), expired),
            Err(Refusal::BadToken(BadToken::Expired))
        );
        assert_eq!(
            authorize_stream(&["public-a", "room-1"], &public, Some("x"), good),
            Ok(Some(grant(&["room-*"], &[])))
        );
        assert_eq!(
            authorize_stream(&["public-a", "lobby"], &public, Some("x"), good),
            Err(Refusal::Forbidden { channel: "lobby".into() })
        );
        // No public channels at all.
        assert_eq!(
            authorize_stream(&["room-1"], &Patterns::default(), Some("x"), good).map(|g| g.is_some()),
            Ok(true)
        );
    }
}
