//! The `URL` argument of `ssehub bench` and `ssehub decode`: `http://host[:port][/path][?query]`
//! (and, for `bench`, `https://`), and the request they send to it, with the `-H 'Name: value'`
//! headers given.
//!
//! Only what an HTTP/1.1 GET needs: whether it goes over TLS, the host and port to connect to,
//! the `Host` header and the request target. [`Url::parse`] (`decode`) refuses `https` with a
//! clear message; [`Url::parse_any`] (`bench`) takes it, port 443 by default. User info
//! (`user@`), an empty host and a bad port are refused. A fragment (`#...`) is never sent to a
//! server, so it is dropped.

use std::fmt;

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https://`: the request goes over TLS.
    pub tls: bool,
    /// The host to resolve, without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
    /// The `Host` header value: the authority as written (`[::1]:8080`, `example.com`).
    pub authority: String,
    /// The request target: the path (at least `/`) and query.
    pub target: String,
}

/// Why a URL was refused; shown as `bad URL ...: <reason>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UrlError {
    Https,
    Scheme,
    EmptyHost,
    UserInfo,
    BadPort,
    BadHost,
    BadTarget,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::Https => {
                "https is not supported by decode yet (use http://, or curl -sN URL | ssehub decode)"
            }
            UrlError::Scheme => "expected http://host[:port][/path] (or https:// for bench)",
            UrlError::EmptyHost => "no host",
            UrlError::UserInfo => "user info (user@host) is not supported",
            UrlError::BadPort => "the port must be a number from 1 to 65535",
            UrlError::BadHost => "the host holds characters a host cannot have",
            UrlError::BadTarget => "the path holds spaces or control characters (percent-encode them)",
        })
    }
}

impl Url {
    /// Parses `http://host[:port][/path][?query][#fragment]` (the scheme case-insensitively);
    /// `https://` is refused.
    pub fn parse(s: &str) -> Result<Url, UrlError> {
        match Url::parse_any(s)? {
            Url { tls: true, .. } => Err(UrlError::Https),
            url => Ok(url),
        }
    }

    /// Parses `http://` or `https://host[:port][/path][?query][#fragment]` (the scheme
    /// case-insensitively; the port 80 or 443 by default).
    pub fn parse_any(s: &str) -> Result<Url, UrlError> {
        let scheme_end = s.find("://").ok_or(UrlError::Scheme)?;
        let tls = match &s[..scheme_end] {
            scheme if scheme.eq_ignore_ascii_case("http") => false,
            scheme if scheme.eq_ignore_ascii_case("https") => true,
            _ => return Err(UrlError::Scheme),
        };
        let rest = &s[scheme_end + 3..];
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(auth_end);
        if authority.contains('@') {
            return Err(UrlError::UserInfo);
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or(UrlError::BadHost)?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or(UrlError::BadHost)?)),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::EmptyHost);
        }
        if host
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b"<>\"\\^`{|}".contains(&b))
        {
            return Err(UrlError::BadHost);
        }
        let port = match port {
            None | Some("") if tls => 443,
            None | Some("") => 80,
            Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u16>().ok().filter(|&p| p != 0).ok_or(UrlError::BadPort)?
            }
            Some(_) => return Err(UrlError::BadPort),
        };
        let target = match target {
            "" => "/".to_owned(),
            t if t.starts_with('?') => format!("/{t}"),
            t => t.to_owned(),
        };
        if target.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
            return Err(UrlError::BadTarget);
        }
        Ok(Url { tls, host: host.to_owned(), port, authority: authority.to_owned(), target })
    }

    /// The HTTP/1.1 request every connection sends: `GET` with `Host`, `Accept:
    /// text/event-stream`, `Cache-Control: no-cache` and `User-Agent: ssehub-AGENT/VERSION`, then
    /// `extra`; a header of `extra` named like one of those four replaces it.
    pub fn request(&self, agent: &str, extra: &[Header]) -> Vec<u8> {
        let version = env!("CARGO_PKG_VERSION");
        let user_agent = format!("ssehub-{agent}/{version}");
        let defaults = [
            ("Host", self.authority.as_str()),
            ("Accept", "text/event-stream"),
            ("Cache-Control", "no-cache"),
            ("User-Agent", user_agent.as_str()),
        ];
        let mut req = format!("GET {} HTTP/1.1\r\n", self.target);
        for (name, value) in defaults {
            if !extra.iter().any(|h| h.name.eq_ignore_ascii_case(name)) {
                req.push_str(&format!("{name}: {value}\r\n"));
            }
        }
        for h in extra {
            req.push_str(&format!("{}: {}\r\n", h.name, h.value));
        }
        req.push_str("\r\n");
        req.into_bytes()
    }
}

/// A request header given as `-H 'Name: value'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl fmt::Display for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value)
    }
}

impl Header {
    /// Parses `Name: value` (clap's `value_parser` for `-H`): the name an HTTP token, the value
    /// without CR, LF or NUL (surrounding whitespace dropped). Headers that would change the
    /// framing of a GET (`Content-Length`, `Transfer-Encoding`) are refused.
    pub fn parse(s: &str) -> Result<Header, String> {
        let Some((name, value)) = s.split_once(':') else {
            return Err(format!("expected 'Name: value', not {s:?}"));
        };
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(token) {
            return Err(format!("expected 'Name: value' with a name of letters, digits and -, not {name:?}"));
        }
        if ["content-length", "transfer-encoding"].iter().any(|n| name.eq_ignore_ascii_case(n)) {
            return Err(format!("{name} cannot be set: the request is a GET without a body"));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err("a header value cannot hold CR, LF or NUL".into());
        }
        Ok(Header { name: name.to_owned(), value: value.to_owned() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, u16, String, String) {
        let u = Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (u.host, u.port, u.authority, u.target)
    }

    #[test]
    fn parses_the_usual_forms() {
        let t = |h: &str, p, a: &str, path: &str| (h.to_owned(), p, a.to_owned(), path.to_owned());
        assert_eq!(ok("http://127.0.0.1:18090/sse"), t("127.0.0.1", 18090, "127.0.0.1:18090", "/sse"));
        assert_eq!(ok("http://example.com"), t("example.com", 80, "example.com", "/"));
        assert_eq!(ok("HTTP://example.com/"), t("example.com", 80, "example.com", "/"));
        assert_eq!(ok("http://h:8080?x=1"), t("h", 8080, "h:8080", "/?x=1"));
        assert_eq!(ok("http://h/a/b?c=d&e#frag"), t("h", 80, "h", "/a/b?c=d&e"));
        assert_eq!(ok("http://h:/x"), t("h", 80, "h:", "/x"));
        assert_eq!(ok("http://[::1]:9000/sse"), t("::1", 9000, "[::1]:9000", "/sse"));
        assert_eq!(ok("http://[::1]/"), t("::1", 80, "[::1]", "/"));
    }

    #[test]
    fn https_for_bench_alone() {
        let err = |s: &str| Url::parse(s).unwrap_err();
        assert_eq!(err("https://example.com/sse"), UrlError::Https);
        assert_eq!(err("HTTPS://example.com/sse"), UrlError::Https);
        let any = |s: &str| Url::parse_any(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let u = any("https://localhost:18443/sse?channel=a");
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.target.as_str()),
            (true, "localhost", 18443, "/sse?channel=a")
        );
        let u = any("HTTPS://example.com");
        assert_eq!((u.tls, u.port, u.authority.as_str(), u.target.as_str()), (true, 443, "example.com", "/"));
        let u = any("https://[::1]/x");
        assert_eq!((u.tls, u.host.as_str(), u.port), (true, "::1", 443));
        let u = any("http://example.com:8080/");
        assert_eq!((u.tls, u.port), (false, 8080));
        assert_eq!(Url::parse_any("https://h:0/"), Err(UrlError::BadPort));
        assert_eq!(Url::parse_any("https:///sse"), Err(UrlError::EmptyHost));
        assert_eq!(Url::parse_any("httpss://h/"), Err(UrlError::Scheme));
        assert_eq!(Url::parse_any("wss://h/"), Err(UrlError::Scheme));
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let err = |s: &str| Url::parse(s).unwrap_err();
        assert_eq!(err("ftp://example.com/"), UrlError::Scheme);
        assert_eq!(err("example.com/sse"), UrlError::Scheme);
        assert_eq!(err("127.0.0.1:8080"), UrlError::Scheme);
        assert_eq!(err("http:///sse"), UrlError::EmptyHost);
        assert_eq!(err("http://:80/sse"), UrlError::EmptyHost);
        assert_eq!(err("http://u:p@h/"), UrlError::UserInfo);
        assert_eq!(err("http://h:0/"), UrlError::BadPort);
        assert_eq!(err("http://h:65536/"), UrlError::BadPort);
        assert_eq!(err("http://h:+80/"), UrlError::BadPort);
        assert_eq!(err("http://h:8x/"), UrlError::BadPort);
        assert_eq!(err("http://[::1/"), UrlError::BadHost);
        assert_eq!(err("http://[::1]x/"), UrlError::BadHost);
        assert_eq!(err("http://a b/"), UrlError::BadHost);
        assert_eq!(err("http://h/a b"), UrlError::BadTarget);
    }

    #[test]
    fn the_request_names_host_and_target() {
        let req = Url::parse("http://[::1]:9000/sse?x=1").unwrap().request("bench", &[]);
        let req = String::from_utf8(req).unwrap();
        assert!(req.starts_with("GET /sse?x=1 HTTP/1.1\r\nHost: [::1]:9000\r\n"), "{req}");
        assert!(req.contains("\r\nAccept: text/event-stream\r\n"));
        assert!(req.contains("\r\nCache-Control: no-cache\r\n"));
        assert!(req.contains("\r\nUser-Agent: ssehub-bench/"));
        assert!(req.ends_with("\r\n\r\n"));
    }

    #[test]
    fn extra_headers_are_sent_and_replace_defaults() {
        let extra = [
            Header::parse("Authorization: Bearer s3cret").unwrap(),
            Header::parse("last-event-id:42").unwrap(),
            Header::parse("user-agent:  curl/8  ").unwrap(),
        ];
        let req = Url::parse("http://h/sse").unwrap().request("decode", &extra);
        let req = String::from_utf8(req).unwrap();
        assert_eq!(
            req,
            "GET /sse HTTP/1.1\r\nHost: h\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\
             Authorization: Bearer s3cret\r\nlast-event-id: 42\r\nuser-agent: curl/8\r\n\r\n"
        );
    }

    #[test]
    fn bad_headers_are_refused() {
        let err = |s: &str| Header::parse(s).unwrap_err();
        assert_eq!(err("no colon"), "expected 'Name: value', not \"no colon\"");
        assert!(err(": v").contains("with a name"));
        assert!(err("Bad Name: v").contains("with a name"));
        assert!(err("Bad\r\nName: v").contains("with a name"));
        assert_eq!(err("X: a\r\nInjected: 1"), "a header value cannot hold CR, LF or NUL");
        assert_eq!(err("X: a\0"), "a header value cannot hold CR, LF or NUL");
        assert!(err("Content-Length: 5").contains("cannot be set"));
        assert!(err("transfer-encoding: chunked").contains("cannot be set"));
        assert_eq!(Header::parse("X-Empty:").unwrap().value, "");
        assert_eq!(Header::parse("X: a: b").unwrap().value, "a: b");
    }
}
