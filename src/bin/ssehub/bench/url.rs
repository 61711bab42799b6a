//! The `URL` argument of `ssehub bench`: `http://host[:port][/path][?query]`.
//!
//! Only what a plain HTTP/1.1 GET needs: the host and port to connect to, the `Host` header and
//! the request target. `https` is refused with a clear message (the load generator speaks no
//! TLS); so are user info (`user@`), an empty host and a bad port. A fragment (`#...`) is never
//! sent to a server, so it is dropped.

use std::fmt;

/// A parsed `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
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
            UrlError::Https => "https is not supported (bench speaks plain HTTP/1.1; use http://)",
            UrlError::Scheme => "expected http://host[:port][/path]",
            UrlError::EmptyHost => "no host",
            UrlError::UserInfo => "user info (user@host) is not supported",
            UrlError::BadPort => "the port must be a number from 1 to 65535",
            UrlError::BadHost => "the host holds characters a host cannot have",
            UrlError::BadTarget => "the path holds spaces or control characters (percent-encode them)",
        })
    }
}

impl Url {
    /// Parses `http://host[:port][/path][?query][#fragment]` (the scheme case-insensitively).
    pub fn parse(s: &str) -> Result<Url, UrlError> {
        let scheme_end = s.find("://").ok_or(UrlError::Scheme)?;
        match &s[..scheme_end] {
            scheme if scheme.eq_ignore_ascii_case("http") => {}
            scheme if scheme.eq_ignore_ascii_case("https") => return Err(UrlError::Https),
            _ => return Err(UrlError::Scheme),
        }
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
        Ok(Url { host: host.to_owned(), port, authority: authority.to_owned(), target })
    }

    /// The HTTP/1.1 request every connection sends.
    pub fn request(&self) -> Vec<u8> {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\
             User-Agent: ssehub-bench/{}\r\n\r\n",
            self.target,
            self.authority,
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes()
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
    fn refuses_what_it_cannot_serve() {
        let err = |s: &str| Url::parse(s).unwrap_err();
        assert_eq!(err("https://example.com/sse"), UrlError::Https);
        assert_eq!(err("HTTPS://example.com/sse"), UrlError::Https);
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
        let req = Url::parse("http://[::1]:9000/sse?x=1").unwrap().request();
        let req = String::from_utf8(req).unwrap();
        assert!(req.starts_with("GET /sse?x=1 HTTP/1.1\r\nHost: [::1]:9000\r\n"), "{req}");
        assert!(req.contains("\r\nAccept: text/event-stream\r\n"));
        assert!(req.contains("\r\nCache-Control: no-cache\r\n"));
        assert!(req.ends_with("\r\n\r\n"));
    }
}
