//! An axum request head as the [`ssehub::Request`] that ssehub's own rules read (channels,
//! `Last-Event-ID`, tokens), and ssehub's answers as axum responses.

use axum::http::{HeaderName, HeaderValue, StatusCode, Version, request::Parts};
use axum::response::{IntoResponse, Response};

/// The head of `parts` as ssehub sees a request: method, target, the percent-decoded path, the
/// query, the version and the header fields (no body: a stream request takes none).
pub fn to_ssehub(parts: &Parts) -> ssehub::Request {
    let uri = &parts.uri;
    let path = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy().into_owned();
    ssehub::Request {
        method: parts.method.as_str().to_owned(),
        target: uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        path,
        query: uri.query().unwrap_or_default().to_owned(),
        version: match parts.version {
            Version::HTTP_10 | Version::HTTP_09 => ssehub::Version::Http10,
            Version::HTTP_11 => ssehub::Version::Http11,
            _ => ssehub::Version::Http2,
        },
        headers: parts.headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect(),
        body: Vec::new(),
    }
}

/// An ssehub answer (a refusal's status, headers and body) as an axum response. A header that
/// is not a valid field is left out (ssehub makes none such).
pub fn to_axum(answer: ssehub::Response) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.append(n, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_reads_as_ssehub_parses_it() {
        let req = axum::http::Request::get("/sse%20x?channel=a&channel=b%20c")
            .header("Last-Event-ID", "42")
            .header("Authorization", "Bearer t")
            .body(())
            .unwrap();
        let (parts, ()) = req.into_parts();
        let r = to_ssehub(&parts);
        assert_eq!((r.path.as_str(), r.target.as_str()), ("/sse x", "/sse%20x?channel=a&channel=b%20c"));
        let want: [std::sync::Arc<str>; 2] = ["a".into(), "b c".into()];
        assert_eq!(ssehub::hub::requested_channels(&r).unwrap(), want);
        assert_eq!(r.last_event_id().as_deref(), Some("42"));
        assert_eq!(r.bearer_token(), Some(&b"t"[..]));
    }

    #[test]
    fn answers_keep_status_headers_and_body() {
        let answer = ssehub::Response::new(401).header("WWW-Authenticate", "Bearer").body("no");
        let r = to_axum(answer);
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
}
