//! HS256 tokens for the tests that run a server with `--jwt-secret`: the secret, and tokens
//! signed with it by an independent implementation (the `jsonwebtoken` crate).

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

/// The HS256 secret (32 bytes, the least `serve` takes).
pub const SECRET: &[u8] = b"a test secret of thirty-two bytes";

/// An HS256 token with these claims, signed with [`SECRET`].
pub fn mint(claims: serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET);
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256), &claims, &key).unwrap()
}

/// An `exp` an hour from now.
pub fn exp() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600
}
