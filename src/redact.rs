//! A Redis URL with its secrets masked, fit for error messages and logs.
//!
//! A Redis URL carries a password in two places: the userinfo
//! (`redis://user:password@host:6379/0`) and, for Unix sockets, the `pass` query parameter
//! (`redis+unix:///run/redis.sock?pass=password`), as the `redis` crate reads them. Both become
//! `***`; the rest (scheme, user, host, port, database) stays, since that is what a reader of a
//! start-up error needs to see.
//!
//! The URL is parsed with the `url` crate, the parser the `redis` crate itself uses, so what is
//! masked is what Redis would take as the password. A string it cannot parse, or parses with an
//! `@` left outside the userinfo (`redis://user:12/ab@host`: a password with a raw `/`, read as
//! host `user`, port `12`), is masked by text instead, under both readings at once: everything
//! between the first `:` after `://` and the last `@`, and the `pass` values of everything after
//! the first `?`. That hides more than needed rather than less.

use std::ops::Range;

use url::{Url, form_urlencoded};

/// What a password is replaced with.
const MASK: &str = "***";

/// `url` with any password replaced by `***`. Never panics, whatever the input.
pub(crate) fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(parsed) if !parsed[url::Position::BeforePath..].contains('@') => {
            redact_parsed(parsed).unwrap_or_else(|| redact_text(url))
        }
        _ => redact_text(url),
    }
}

/// The parsed URL with its password and `pass` parameters masked; `None` if a password could
/// not be replaced (then the caller masks by text).
fn redact_parsed(mut url: Url) -> Option<String> {
    if url.password().is_some() {
        url.set_password(Some(MASK)).ok()?;
    }
    if let Some(query) = url.query() {
        let masked = mask(query, pass_values(query));
        url.set_query(Some(&masked));
    }
    Some(url.into())
}

/// Masks by text, as the module documentation says.
fn redact_text(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let mut hidden = Vec::new();
    if let Some(at) = url[start..].rfind('@').map(|i| start + i) {
        if let Some(colon) = url[start..at].find(':').map(|i| start + i) {
            hidden.push(colon + 1..at);
        }
    }
    if let Some(query) = url[start..].find('?').map(|i| start + i + 1) {
        let end = url[query..].find('#').map_or(url.len(), |i| query + i);
        hidden.extend(pass_values(&url[query..end]).into_iter().map(|r| query + r.start..query + r.end));
    }
    hidden.sort_by_key(|r| r.start);
    mask(url, hidden)
}

/// Where the values of the `pass` parameters of `query` (`db=1&pass=x`) are. A name is
/// compared as the `redis` crate reads it, percent-decoded.
fn pass_values(query: &str) -> Vec<Range<usize>> {
    let mut values = Vec::new();
    let mut start = 0;
    for pair in query.split('&') {
        if let Some((name, _)) = pair.split_once('=') {
            if form_urlencoded::parse(name.as_bytes()).next().is_some_and(|(name, _)| name == "pass") {
                values.push(start + name.len() + 1..start + pair.len());
            }
        }
        start += pair.len() + 1;
    }
    values
}

/// `text` with each of `hidden` (sorted by start, on char boundaries) replaced by [`MASK`];
/// ranges that overlap or touch become one mask.
fn mask(text: &str, hidden: Vec<Range<usize>>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    let mut masked = false;
    for r in hidden {
        if masked && r.start <= pos {
            pos = pos.max(r.end);
            continue;
        }
        out.push_str(&text[pos..r.start]);
        out.push_str(MASK);
        pos = r.end;
        masked = true;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn user_and_password() {
        assert_eq!(redact_url("redis://user:s3cret@10.0.0.5:6379/2"), "redis://user:***@10.0.0.5:6379/2");
        assert_eq!(
            redact_url("rediss://default:s3cret@cache.example:6380"),
            "rediss://default:***@cache.example:6380"
        );
    }

    #[test]
    fn password_without_user() {
        assert_eq!(redact_url("redis://:s3cret@h:6379"), "redis://:***@h:6379");
    }

    #[test]
    fn no_password_is_left_alone() {
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact_url("redis://h:6379/2"), "redis://h:6379/2");
        assert_eq!(redact_url("redis://user@h:6379"), "redis://user@h:6379");
        assert_eq!(redact_url("redis+unix:///run/redis.sock?db=1"), "redis+unix:///run/redis.sock?db=1");
    }

    #[test]
    fn password_with_a_raw_slash() {
        // Not a valid URL: the authority ends at `/`, and `pa` is no port.
        assert_eq!(redact_url("redis://user:pa/ss@h:6379/2"), "redis://user:***@h:6379/2");
        // A valid URL, but not the one meant: host `user`, port 12, path `/ss@h:6379`.
        assert_eq!(redact_url("redis://user:12/ss@h:6379"), "redis://user:***@h:6379");
        assert_eq!(redact_url("redis://:/@h"), "redis://:***@h");
    }

    #[test]
    fn password_with_raw_at_and_colon() {
        assert_eq!(redact_url("redis://user:p@ss@h:6379"), "redis://user:***@h:6379");
        assert_eq!(redact_url("redis://user:pa:ss@h:6379"), "redis://user:***@h:6379");
        assert_eq!(redact_url("redis://user:p@s:s@h"), "redis://user:***@h");
    }

    #[test]
    fn percent_escaped_password() {
        let out = redact_url("redis://user:p%2F%40%3As%25@h:6379");
        assert_eq!(out, "redis://user:***@h:6379");
    }

    #[test]
    fn pass_query_parameter_of_a_unix_socket_url() {
        assert_eq!(
            redact_url("redis+unix:///run/redis.sock?db=1&pass=s3cret&user=u"),
            "redis+unix:///run/redis.sock?db=1&pass=***&user=u"
        );
        assert_eq!(redact_url("unix:///run/redis.sock?pa%73s=s3cret"), "unix:///run/redis.sock?pa%73s=***");
        assert_eq!(redact_url("unix:///s?pass=a&pass=b#x"), "unix:///s?pass=***&pass=***#x");
        // Unparsed text too.
        assert_eq!(redact_url("unix://:x/?pass=s3cret"), "unix://:x/?pass=***");
    }

    #[test]
    fn not_a_url_at_all() {
        for s in ["", "not a url", "h:6379", "://", "?", "&&", "%", "é"] {
            assert_eq!(redact_url(s), s);
        }
        assert_eq!(redact_url("user:s3cret@h"), "user:***@h");
        assert_eq!(redact_url("@"), "@");
        assert_eq!(redact_url(":@"), ":***@");
        assert_eq!(redact_url("?pass"), "?pass");
        assert_eq!(redact_url("?pass="), "?pass=***");
        assert_eq!(redact_url("redis://@"), "redis://"); // the `url` crate's normal form
        assert_eq!(redact_url("redis://:@h"), "redis://h"); // an empty password is none
    }

    proptest! {
        /// Whatever the password holds, it never shows, and nothing panics. It starts and ends
        /// with a marker the rest of the URL never holds, so a leak of either end shows.
        #[test]
        fn the_password_never_shows(
            middle in "[a-z0-9/@:%?#&=+ ~!$]{0,12}",
            user in "[a-z]{0,4}",
            host in "[a-z0-9.]{0,8}(:[0-9]{1,5})?",
            path in "(/[0-9]{0,2})?",
        ) {
            let password = format!("ZQ{middle}QZ");
            let url = format!("redis://{user}:{password}@{host}{path}");
            let out = redact_url(&url);
            prop_assert!(!out.contains("ZQ") && !out.contains("QZ"), "{url} -> {out}");
            // In a query, `&` and `#` end the value: what follows is not the password.
            let password = password.replace(['&', '#'], "");
            let url = format!("redis+unix:///run/r.sock?db=1&pass={password}");
            let out = redact_url(&url);
            prop_assert!(!out.contains("ZQ") && !out.contains("QZ"), "{url} -> {out}");
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}", t in "((redis|unix)://)?[a-zé0-9:/@?#&=%.]{0,30}") {
            let _ = redact_url(&s);
            let _ = redact_url(&t);
        }
    }
}
