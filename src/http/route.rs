//! The decision: a parsed request head + configuration → what the connection becomes.
//!
//! ```text
//! path matches the stream pattern?
//! ├─ no  ─────────────────────────────────────────► Fallback (the application's handler, default 404)
//! └─ yes ─ OPTIONS ──────────────────────────────► Respond(204 + CORS preflight, or 403)
//!          GET with a body ──────────────────────► Respond(400), close
//!          GET from a disallowed Origin ─────────► Respond(403)
//!          GET ──────────────────────────────────► Stream (after the application's accept check)
//!          anything else ────────────────────────► Respond(405, Allow: GET, OPTIONS)
//! ```
//!
//! # Path matching
//! As the Node `sse` package does: leading slashes collapse to one (`//sse` is `/sse`), the query
//! is not part of the match, and one `*` in the pattern matches any run of characters
//! (`/events/*` matches `/events/a/b`). Matching is on the percent-decoded path.

use crate::http::request::Request;
use crate::http::response::Response;

/// The stream path pattern. See the [module docs](self).
///
/// ```
/// use ssehub::http::PathPattern;
/// let p = PathPattern::new("/sse/*");
/// assert!(p.matches("///sse/room-1"));
/// assert!(!p.matches("/other"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    prefix: String,
    /// After the wildcard, when the pattern has one.
    suffix: Option<String>,
}

/// The pattern's text, as [`PathPattern::new`] read it (leading slashes collapsed).
impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.suffix {
            Some(suffix) => write!(f, "{}*{suffix}", self.prefix),
            None => f.write_str(&self.prefix),
        }
    }
}

impl PathPattern {
    /// A pattern from its text; a first `*` is the wildcard (a second one is literal).
    pub fn new(pattern: &str) -> PathPattern {
        let pattern = collapse_leading_slashes(pattern);
        match pattern.split_once('*') {
            Some((prefix, suffix)) => {
                PathPattern { prefix: prefix.to_owned(), suffix: Some(suffix.to_owned()) }
            }
            None => PathPattern { prefix: pattern.to_owned(), suffix: None },
        }
    }

    /// Whether a request path matches.
    pub fn matches(&self, path: &str) -> bool {
        let path = collapse_leading_slashes(path);
        match &self.suffix {
            None => path == self.prefix,
            Some(suffix) => {
                path.len() >= self.prefix.len() + suffix.len()
                    && path.starts_with(&self.prefix)
                    && path.ends_with(suffix.as_str())
            }
        }
    }
}

fn collapse_leading_slashes(path: &str) -> &str {
    let trimmed = path.trim_start_matches('/');
    if trimmed.len() + 1 < path.len() { &path[path.len() - trimmed.len() - 1..] } else { path }
}

/// Which origins may open the stream from another site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowOrigins {
    /// Any origin (`*`, or the request's own origin when credentials are allowed).
    Any,
    /// Exactly these origins (`https://example.com`, compared ASCII case-insensitively).
    List(Vec<String>),
}

/// Cross-origin (CORS) settings for the stream path.
///
/// ```
/// use ssehub::http::Cors;
/// let cors = Cors::origins(["https://app.example"]).credentials(true);
/// # let _ = cors;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cors {
    /// The allowed origins.
    pub origins: AllowOrigins,
    /// Send `Access-Control-Allow-Credentials: true` (needed by `withCredentials` clients).
    pub credentials: bool,
    /// `Access-Control-Max-Age` of preflight answers, in seconds.
    pub max_age: Option<u32>,
}

impl Cors {
    /// Any origin may connect.
    pub fn any() -> Cors {
        Cors { origins: AllowOrigins::Any, credentials: false, max_age: Some(86_400) }
    }

    /// Only these origins may connect.
    pub fn origins<I: IntoIterator<Item = S>, S: Into<String>>(origins: I) -> Cors {
        Cors { origins: AllowOrigins::List(origins.into_iter().map(Into::into).collect()), ..Cors::any() }
    }

    /// Allows credentials (cookies) on cross-origin streams.
    pub fn credentials(mut self, allow: bool) -> Cors {
        self.credentials = allow;
        self
    }

    fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            AllowOrigins::Any => true,
            AllowOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }

    /// The response headers for a request from `origin`, or `None` when it is not allowed.
    fn headers(&self, origin: &str) -> Option<Vec<(String, String)>> {
        if !self.allows(origin) {
            return None;
        }
        let mut headers = Vec::with_capacity(3);
        if self.origins == AllowOrigins::Any && !self.credentials {
            headers.push(("Access-Control-Allow-Origin".to_owned(), "*".to_owned()));
        } else {
            headers.push(("Access-Control-Allow-Origin".to_owned(), origin.to_owned()));
            headers.push(("Vary".to_owned(), "Origin".to_owned()));
        }
        if self.credentials {
            headers.push(("Access-Control-Allow-Credentials".to_owned(), "true".to_owned()));
        }
        Some(headers)
    }
}

/// What to do with a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Open an event stream (subject to the application's accept check), adding these headers.
    Stream {
        /// CORS headers for the stream's head.
        headers: Vec<(String, String)>,
    },
    /// Answer with this response; `close` says whether the connection must close afterwards.
    Respond {
        /// The answer.
        response: Response,
        /// Close after answering (the request cannot be trusted to be framed right).
        close: bool,
    },
    /// Not the stream path: the application's fallback handler answers.
    Fallback,
    /// `GET` (or `HEAD`) on the metrics path: the server answers with its metrics.
    Metrics,
    /// The publish endpoint's path (any method: see [`crate::hub::publish`]).
    Publish,
    /// The presence path (`/channels`, any method): all channels (`channel: None`), or one
    /// (`/channels/NAME`, the name percent-decoded; not UTF-8 or empty: `Some("")`).
    Presence {
        /// The channel asked about, if one.
        channel: Option<String>,
    },
}

/// The routing configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteConfig {
    /// The stream path.
    pub pattern: PathPattern,
    /// CORS, when cross-origin clients are allowed.
    pub cors: Option<Cors>,
    /// Where the server answers with its metrics (Prometheus text), if anywhere.
    pub metrics: Option<String>,
    /// Where publishers `POST` events, if the endpoint is enabled.
    pub publish: Option<String>,
    /// Where presence is answered (`GET /channels`, `GET /channels/NAME`), if anywhere.
    pub presence: Option<String>,
}

/// Decides what `head` becomes. Pure: see the [module docs](self) for the table.
pub fn route(req: &Request, cfg: &RouteConfig) -> Decision {
    if cfg.publish.as_deref() == Some(req.path.as_str()) {
        return Decision::Publish;
    }
    if let Some(base) = cfg.presence.as_deref() {
        match req.path.strip_prefix(base) {
            Some("") => return Decision::Presence { channel: None },
            Some(rest) if rest.starts_with('/') => {
                let name = percent_encoding::percent_decode_str(&rest[1..]).decode_utf8();
                return Decision::Presence {
                    channel: Some(name.map(|n| n.into_owned()).unwrap_or_default()),
                };
            }
            _ => {}
        }
    }
    if cfg.metrics.as_deref() == Some(req.path.as_str()) && matches!(req.method.as_str(), "GET" | "HEAD") {
        return Decision::Metrics;
    }
    if req.path == "*" || !cfg.pattern.matches(&req.path) {
        return Decision::Fallback;
    }
    let origin = req.header("origin");
    let respond = |response| Decision::Respond { response, close: false };
    match req.method.as_str() {
        "OPTIONS" => {
            let allow = Response::new(204).header("Allow", "GET, OPTIONS");
            match (origin, &cfg.cors) {
                (Some(origin), Some(cors)) => match cors.headers(origin) {
                    Some(cors_headers) => {
                        let mut response = allow.header("Access-Control-Allow-Methods", "GET");
                        if let Some(asked) = req.header("access-control-request-headers") {
                            response = response.header("Access-Control-Allow-Headers", asked);
                        }
                        if let Some(age) = cors.max_age {
                            response = response.header("Access-Control-Max-Age", age.to_string());
                        }
                        response.headers.extend(cors_headers);
                        respond(response)
                    }
                    None => respond(Response::error(403, "origin not allowed")),
                },
                _ => respond(allow),
            }
        }
        "GET" => {
            if !req.body.is_empty() {
                return Decision::Respond {
                    response: Response::error(400, "the stream path takes no request body"),
                    close: true,
                };
            }
            match (origin, &cfg.cors) {
                (Some(origin), Some(cors)) => match cors.headers(origin) {
                    Some(headers) => Decision::Stream { headers },
                    None => respond(Response::error(403, "origin not allowed")),
                },
                _ => Decision::Stream { headers: Vec::new() },
            }
        }
        _ => respond(Response::error(405, "the stream path answers GET").header("Allow", "GET, OPTIONS")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::{Limits, parse_head};

    fn decide(raw: &str, cfg: &RouteConfig) -> Decision {
        let head = parse_head(raw.as_bytes(), &Limits::default()).unwrap().unwrap();
        let mut req = head.request;
        req.body = raw.as_bytes()[head.head_len..head.head_len + head.body_len].to_vec();
        route(&req, cfg)
    }

    fn cfg(pattern: &str, cors: Option<Cors>) -> RouteConfig {
        RouteConfig {
            pattern: PathPattern::new(pattern),
            cors,
            metrics: Some("/metrics".into()),
            publish: None,
            presence: Some("/channels".into()),
        }
    }

    fn status(d: &Decision) -> u16 {
        match d {
            Decision::Respond { response, .. } => response.status,
            Decision::Stream { .. } => 200,
            Decision::Fallback => 0,
            Decision::Metrics => 1,
            Decision::Publish => 2,
            Decision::Presence { .. } => 3,
        }
    }

    #[test]
    fn the_presence_path_and_a_channel_under_it() {
        let c = cfg("/sse", None);
        let presence = |path: &str| decide(&format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n"), &c);
        assert_eq!(presence("/channels"), Decision::Presence { channel: None });
        assert_eq!(presence("/channels/room-1"), Decision::Presence { channel: Some("room-1".into()) });
        assert_eq!(
            presence("/channels/user%2F42%2Finbox"),
            Decision::Presence { channel: Some("user/42/inbox".into()) }
        );
        assert_eq!(presence("/channels/"), Decision::Presence { channel: Some(String::new()) });
        assert_eq!(presence("/channelsx"), Decision::Fallback);
        let off = RouteConfig { presence: None, ..c.clone() };
        assert_eq!(decide("GET /channels HTTP/1.1\r\nHost: h\r\n\r\n", &off), Decision::Fallback);
    }

    #[test]
    fn metrics_path_is_answered_by_the_server_for_get_and_head() {
        let c = cfg("/sse", None);
        assert_eq!(decide("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", &c), Decision::Metrics);
        assert_eq!(decide("HEAD /metrics HTTP/1.1\r\nHost: h\r\n\r\n", &c), Decision::Metrics);
        let post = "POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(decide(post, &c), Decision::Fallback);
        let off = RouteConfig { metrics: None, ..c };
        assert_eq!(decide("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n", &off), Decision::Fallback);
    }

    #[test]
    fn path_matching_like_the_node_package() {
        let p = PathPattern::new("/sse");
        assert!(p.matches("/sse"));
        assert!(p.matches("///sse"));
        assert!(!p.matches("/sse/"));
        assert!(!p.matches("/ss"));
        let w = PathPattern::new("/a/*/b");
        assert!(w.matches("/a/x/b"));
        assert!(w.matches("/a//b"));
        assert!(!w.matches("/a/b"));
        assert!(PathPattern::new("//x").matches("/x"));
        assert!(PathPattern::new("*").matches("/anything"));
    }

    #[test]
    fn get_on_the_path_streams_and_the_query_is_ignored() {
        let d = decide("GET //sse?x=1 HTTP/1.1\r\nHost: h\r\n\r\n", &cfg("/sse", None));
        assert_eq!(d, Decision::Stream { headers: vec![] });
        assert_eq!(decide("GET /other HTTP/1.1\r\nHost: h\r\n\r\n", &cfg("/sse", None)), Decision::Fallback);
    }

    #[test]
    fn other_methods_get_405_with_allow() {
        let d = decide("POST /sse HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &cfg("/sse", None));
        let Decision::Respond { response, .. } = d else { panic!("{d:?}") };
        assert_eq!(response.status, 405);
        assert!(response.headers.contains(&("Allow".into(), "GET, OPTIONS".into())));
    }

    #[test]
    fn body_on_the_stream_path_is_400_and_close() {
        let d = decide("GET /sse HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc", &cfg("/sse", None));
        assert!(matches!(d, Decision::Respond { close: true, ref response } if response.status == 400));
    }

    #[test]
    fn cors_stream_and_preflight() {
        let c = cfg("/sse", Some(Cors::origins(["https://a.example"])));
        let ok = decide("GET /sse HTTP/1.1\r\nHost: h\r\nOrigin: https://a.example\r\n\r\n", &c);
        let Decision::Stream { headers } = ok else { panic!() };
        assert!(headers.contains(&("Access-Control-Allow-Origin".into(), "https://a.example".into())));
        let bad = decide("GET /sse HTTP/1.1\r\nHost: h\r\nOrigin: https://b.example\r\n\r\n", &c);
        assert_eq!(status(&bad), 403);
        let pre = decide(
            "OPTIONS /sse HTTP/1.1\r\nHost: h\r\nOrigin: https://a.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: last-event-id\r\n\r\n",
            &c,
        );
        let Decision::Respond { response, .. } = pre else { panic!() };
        assert_eq!(response.status, 204);
        assert!(response.headers.contains(&("Access-Control-Allow-Headers".into(), "last-event-id".into())));
        assert!(response.headers.contains(&("Access-Control-Allow-Methods".into(), "GET".into())));
    }

    #[test]
    fn cors_any_uses_star_unless_credentials() {
        let any = cfg("/sse", Some(Cors::any()));
        let Decision::Stream { headers } =
            decide("GET /sse HTTP/1.1\r\nHost: h\r\nOrigin: https://x\r\n\r\n", &any)
        else {
            panic!()
        };
        assert_eq!(headers, vec![("Access-Control-Allow-Origin".into(), "*".into())]);
        let cred = cfg("/sse", Some(Cors::any().credentials(true)));
        let Decision::Stream { headers } =
            decide("GET /sse HTTP/1.1\r\nHost: h\r\nOrigin: https://x\r\n\r\n", &cred)
        else {
            panic!()
        };
        assert!(headers.contains(&("Access-Control-Allow-Origin".into(), "https://x".into())));
        assert!(headers.contains(&("Access-Control-Allow-Credentials".into(), "true".into())));
    }
}
