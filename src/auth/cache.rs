//! Tokens verified before, as pure state: a reconnect with the same token skips the signature.
//!
//! ```text
//! token ─► VerifiedTokens::get(token, now) ─► hit: the grant (its `exp` checked against now)
//!                                          └► miss: Verifier::verify ─► insert(token, grant)
//! ```
//!
//! A browser's `EventSource` reconnects with the token it had (a cookie, or the same URL), and a
//! drained node sends all its clients to the others at once: most tokens a node sees it has seen
//! before. Checking a signature is most of a stream's authorization cost (an HS256 token ~6.6 us,
//! RS256 more), so the verified ones are remembered with their grant. A hit compares the whole
//! token (never a hash of it, which another token could be crafted to match), and the grant is
//! given only while it lasts: at its `exp` (plus leeway) the entry is dropped and the token
//! refused as expired, as verifying it again would. Only tokens that passed every check are
//! kept; a refused token is verified (and refused) again each time.
//!
//! Bounded by the bytes of the tokens held (default [`DEFAULT_MAX_BYTES`], 1 MiB: some 4,000
//! tokens of 250 bytes); past it the oldest entries go first. Zero turns the cache off.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::grant::Grant;
use super::refusal::{BadToken, Refusal};

/// The token bytes held at most by default.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;

/// Verified tokens and their grants. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct VerifiedTokens {
    grants: HashMap<Arc<str>, Grant>,
    /// Tokens in insertion order, the oldest first (the same text as the map's key: one copy of
    /// each token).
    order: VecDeque<Arc<str>>,
    bytes: usize,
    max_bytes: usize,
}

impl Default for VerifiedTokens {
    fn default() -> VerifiedTokens {
        VerifiedTokens::new(DEFAULT_MAX_BYTES)
    }
}

impl VerifiedTokens {
    /// A cache holding at most `max_bytes` of tokens (0: none).
    pub fn new(max_bytes: usize) -> VerifiedTokens {
        VerifiedTokens { grants: HashMap::new(), order: VecDeque::new(), bytes: 0, max_bytes }
    }

    /// Tokens held.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// The grant of `token` if it was verified before: `Some(Ok(grant))` while the grant lasts,
    /// `Some(Err(expired))` from its end on (the entry is dropped), `None` if not held.
    pub fn get(&mut self, token: &str, now: u64) -> Option<Result<Grant, Refusal>> {
        let grant = self.grants.get(token)?;
        if grant.expires.is_some_and(|end| now >= end) {
            self.grants.remove(token);
            // Its place in `order` goes when the front reaches it (`bytes` counts it until then).
            return Some(Err(BadToken::Expired.into()));
        }
        Some(Ok(grant.clone()))
    }

    /// Remembers that `token` was verified and grants `grant`.
    pub fn insert(&mut self, token: &str, grant: Grant) {
        if token.len() > self.max_bytes || self.grants.contains_key(token) {
            return;
        }
        while self.bytes + token.len() > self.max_bytes {
            let Some(oldest) = self.order.pop_front() else { break };
            self.bytes -= oldest.len();
            self.grants.remove(&oldest);
        }
        self.bytes += token.len();
        let token: Arc<str> = token.into();
        self.order.push_back(Arc::clone(&token));
        self.grants.insert(token, grant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Patterns;

    fn grant(expires: Option<u64>) -> Grant {
        Grant {
            subject: Some("u".into()),
            subscribe: Patterns::parse(["room-*"]).unwrap(),
            publish: Patterns::default(),
            expires,
        }
    }

    #[test]
    fn a_held_token_is_granted_until_its_end_then_refused_as_expired() {
        let mut c = VerifiedTokens::default();
        assert!(c.get("t", 10).is_none());
        c.insert("t", grant(Some(100)));
        assert_eq!(c.get("t", 99), Some(Ok(grant(Some(100)))));
        assert_eq!(c.get("t", 100), Some(Err(BadToken::Expired.into())));
        assert!(c.get("t", 101).is_none(), "dropped: verified (and refused) again");
        c.insert("forever", grant(None));
        assert_eq!(c.get("forever", u64::MAX), Some(Ok(grant(None))));
    }

    #[test]
    fn only_the_whole_token_matches() {
        let mut c = VerifiedTokens::default();
        c.insert("abc.def.ghi", grant(None));
        assert!(c.get("abc.def.gh", 0).is_none());
        assert!(c.get("abc.def.ghij", 0).is_none());
    }

    #[test]
    fn past_its_bytes_the_oldest_tokens_go_first() {
        let mut c = VerifiedTokens::new(10);
        c.insert("aaaa", grant(None));
        c.insert("bbbb", grant(None));
        c.insert("cccc", grant(None));
        assert!(c.get("aaaa", 0).is_none());
        assert!(c.get("bbbb", 0).is_some() && c.get("cccc", 0).is_some());
        c.insert("x".repeat(11).as_str(), grant(None));
        assert_eq!(c.len(), 2, "a token larger than the whole cache is not held");
        let mut off = VerifiedTokens::new(0);
        off.insert("a", grant(None));
        assert!(off.is_empty());
    }

    #[test]
    fn an_expired_entry_still_counts_until_it_leaves_the_queue() {
        let mut c = VerifiedTokens::new(8);
        c.insert("aaaa", grant(Some(5)));
        assert!(c.get("aaaa", 5).unwrap().is_err());
        c.insert("bbbb", grant(None));
        c.insert("cccc", grant(None));
        assert!(c.get("bbbb", 0).is_some() && c.get("cccc", 0).is_some());
        assert!(c.bytes <= 8);
    }
}
