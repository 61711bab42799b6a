//! The connection's rules, each driven by a client made of the codec's own encoders.

use std::time::Duration;

use super::*;
use crate::Event as SseEvent;
use crate::h2::frame::{Frame as WireFrame, Setting};
use crate::h2::{MAX_FRAME_SIZE_LIMIT, PREFACE};

/// A frame as the client reads it, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Got {
    Settings(Vec<Setting>),
    SettingsAck,
    Headers { stream: u32, fields: Vec<(String, String)>, end: bool },
    Data { stream: u32, data: Vec<u8>, end: bool },
    Rst { stream: u32, code: ErrorCode },
    GoAway { last: u32, code: ErrorCode },
    Window { stream: u32, inc: u32 },
    PingAck([u8; 8]),
}

/// A client: HPACK contexts and the server's output read back as frames.
struct Client {
    enc: hpack::Encoder,
    dec: hpack::Decoder,
    /// Server output not yet parsed.
    pending: Vec<u8>,
}

impl Client {
    fn new() -> Client {
        Client { enc: hpack::Encoder::new(4096), dec: hpack::Decoder::new(4096), pending: Vec::new() }
    }

    fn preface(&self, settings: &[Setting]) -> Vec<u8> {
        let mut v = PREFACE.to_vec();
        frame::encode_settings(settings, &mut v);
        v
    }

    fn headers(&mut self, stream: u32, fields: &[(&str, &str)], end_stream: bool) -> Vec<u8> {
        let mut block = Vec::new();
        self.enc.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), &mut block);
        let mut out = Vec::new();
        frame::encode_headers(stream, &block, end_stream, 16_384, &mut out);
        out
    }

    fn get(&mut self, stream: u32, path: &str) -> Vec<u8> {
        self.headers(
            stream,
            &[(":method", "GET"), (":scheme", "http"), (":authority", "h"), (":path", path)],
            true,
        )
    }

    /// Everything the server can write now, as frames.
    fn read(&mut self, c: &mut Connection, now: Instant) -> Vec<Got> {
        let mut wire = Vec::new();
        c.write_to(&mut wire, now).unwrap();
        self.pending.extend_from_slice(&wire);
        let pending = std::mem::take(&mut self.pending);
        let mut at = 0;
        let mut got = Vec::new();
        let mut block: Option<(u32, Vec<u8>, bool)> = None;
        while let Some((f, used)) = frame::decode(&pending[at..], MAX_FRAME_SIZE_LIMIT).unwrap() {
            let item = match f {
                WireFrame::Settings(s) if s.ack => Some(Got::SettingsAck),
                WireFrame::Settings(s) => Some(Got::Settings(s.iter().collect())),
                WireFrame::Headers(h) if h.end_headers => {
                    Some(self.fields(h.stream_id, h.fragment, h.end_stream))
                }
                WireFrame::Headers(h) => {
                    block = Some((h.stream_id, h.fragment.to_vec(), h.end_stream));
                    None
                }
                WireFrame::Continuation(k) => {
                    let (id, mut b, end) = block.take().expect("CONTINUATION after HEADERS");
                    b.extend_from_slice(k.fragment);
                    if k.end_headers {
                        Some(self.fields(id, &b, end))
                    } else {
                        block = Some((id, b, end));
                        None
                    }
                }
                WireFrame::Data(d) => {
                    Some(Got::Data { stream: d.stream_id, data: d.data.to_vec(), end: d.end_stream })
                }
                WireFrame::RstStream(r) => Some(Got::Rst { stream: r.stream_id, code: r.code }),
                WireFrame::GoAway(g) => Some(Got::GoAway { last: g.last_stream_id, code: g.code }),
                WireFrame::WindowUpdate(w) => Some(Got::Window { stream: w.stream_id, inc: w.increment }),
                WireFrame::Ping(p) if p.ack => Some(Got::PingAck(p.data)),
                other => panic!("the server sent {other:?}"),
            };
            got.extend(item);
            at += used;
        }
        self.pending = pending[at..].to_vec();
        got
    }

    fn fields(&mut self, stream: u32, block: &[u8], end: bool) -> Got {
        let fields = self.dec.decode_to_vec(block).unwrap();
        let fields = fields
            .into_iter()
            .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
            .collect();
        Got::Headers { stream, fields, end }
    }
}

fn config() -> Arc<Config> {
    Arc::new(Config::default())
}

/// A connection that has read the preface and the client's (empty) SETTINGS, and the client,
/// with the server's SETTINGS and ACK read.
fn open(config: Arc<Config>, settings: &[Setting], t0: Instant) -> (Connection, Client) {
    let mut c = Connection::new(config, QueuePool::new(usize::MAX), t0);
    let mut client = Client::new();
    c.received(&client.preface(settings));
    assert_eq!(c.poll_event(t0), None);
    let got = client.read(&mut c, t0);
    assert!(matches!(got[0], Got::Settings(_)), "{got:?}");
    assert_eq!(got[1], Got::SettingsAck);
    (c, client)
}

fn events(c: &mut Connection, now: Instant) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event(now)).collect()
}

fn request_on(c: &mut Connection, now: Instant) -> (u32, Request) {
    match c.poll_event(now) {
        Some(Event::Request { stream, request }) => (stream, request),
        other => panic!("{other:?}"),
    }
}

fn status(got: &Got) -> Option<&str> {
    match got {
        Got::Headers { fields, .. } => fields.iter().find(|(n, _)| n == ":status").map(|(_, v)| v.as_str()),
        _ => None,
    }
}

fn event(data: &str) -> Frame {
    Frame::event(&SseEvent::new(data)).unwrap()
}

#[test]
fn our_settings_come_first_and_theirs_are_acknowledged() {
    let t0 = Instant::now();
    let mut c = Connection::new(config(), QueuePool::new(usize::MAX), t0);
    let mut client = Client::new();
    let got = client.read(&mut c, t0);
    assert_eq!(
        got,
        [Got::Settings(vec![
            Setting::MaxConcurrentStreams(100),
            Setting::MaxHeaderListSize(16 * 1024),
            Setting::EnablePush(false)
        ])]
    );
    c.received(&client.preface(&[]));
    assert_eq!(c.poll_event(t0), None);
    assert_eq!(client.read(&mut c, t0), [Got::SettingsAck]);
}

#[test]
fn a_get_is_answered_with_headers_and_a_body() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/page?x=1"));
    let (stream, req) = request_on(&mut c, t0);
    assert_eq!(
        (stream, req.method.as_str(), req.path.as_str(), req.query.as_str()),
        (1, "GET", "/page", "x=1")
    );
    assert_eq!(req.version, crate::http::Version::Http2);
    assert!(c.respond(
        1,
        &Response::text(200, "hi").header("Connection", "close").header("X-A", "1"),
        false,
        t0
    ));
    let got = client.read(&mut c, t0);
    let Got::Headers { stream: 1, fields, end: false } = &got[0] else { panic!("{got:?}") };
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [":status", "content-type", "x-a", "content-length"], "no connection-specific field");
    assert_eq!(got[1], Got::Data { stream: 1, data: b"hi".to_vec(), end: true });
    assert_eq!(events(&mut c, t0), [Event::Closed { stream: 1 }]);
    assert_eq!(c.open_streams(), 0);
    assert!(!c.respond(1, &Response::text(200, "again"), false, t0), "closed");
}

#[test]
fn head_requests_and_empty_bodies_end_with_the_headers() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/"));
    request_on(&mut c, t0);
    c.respond(1, &Response::text(200, "body"), true, t0);
    let got = client.read(&mut c, t0);
    assert_eq!(got.len(), 1);
    assert!(
        matches!(&got[0], Got::Headers { end: true, fields, .. } if fields.contains(&("content-length".into(), "4".into())))
    );
}

#[test]
fn an_event_stream_sends_each_frame_as_data_and_ends_with_end_stream() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    assert!(c.start_stream(
        1,
        &[("Access-Control-Allow-Origin".into(), "*".into())],
        &[Frame::comment("ok")],
        t0
    ));
    let got = client.read(&mut c, t0);
    let Got::Headers { fields, end: false, .. } = &got[0] else { panic!("{got:?}") };
    assert!(fields.contains(&("content-type".into(), "text/event-stream".into())));
    assert!(fields.contains(&("access-control-allow-origin".into(), "*".into())));
    assert_eq!(got[1], Got::Data { stream: 1, data: b":ok\n\n".to_vec(), end: false });
    c.push(1, event("a"), t0).unwrap();
    c.push(1, event("b"), t0).unwrap();
    assert_eq!(
        client.read(&mut c, t0),
        [Got::Data { stream: 1, data: b"data: a\n\ndata: b\n\n".to_vec(), end: false }]
    );
    c.finish_stream(1, t0);
    assert_eq!(client.read(&mut c, t0), [Got::Data { stream: 1, data: Vec::new(), end: true }]);
    assert_eq!(events(&mut c, t0), [Event::Closed { stream: 1 }]);
}

#[test]
fn one_frame_goes_to_many_streams_behind_their_own_headers() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    for id in [1, 3, 5] {
        c.received(&client.get(id, "/sse"));
        request_on(&mut c, t0);
        c.start_stream(id, &[], &[], t0);
    }
    client.read(&mut c, t0);
    let shared = event("tick");
    for id in [1, 3, 5] {
        c.push(id, shared.clone(), t0).unwrap();
    }
    let mut got = client.read(&mut c, t0);
    got.sort_by_key(|g| match g {
        Got::Data { stream, .. } => *stream,
        _ => 0,
    });
    let want: Vec<Got> =
        [1, 3, 5].map(|stream| Got::Data { stream, data: b"data: tick\n\n".to_vec(), end: false }).into();
    assert_eq!(got, want);
}

#[test]
fn data_waits_for_window_and_goes_in_window_sized_frames() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[Setting::InitialWindowSize(1)], t0);
    c.received(&client.get(1, "/"));
    request_on(&mut c, t0);
    c.respond(1, &Response::text(200, "abc"), false, t0);
    let got = client.read(&mut c, t0);
    assert_eq!(got[1], Got::Data { stream: 1, data: b"a".to_vec(), end: false });
    assert_eq!(got.len(), 2);
    assert!(!c.wants_write(), "no window, nothing to write");
    let mut update = Vec::new();
    frame::encode_window_update(1, 5, &mut update);
    c.received(&update);
    assert_eq!(events(&mut c, t0), []);
    assert!(c.wants_write());
    assert_eq!(client.read(&mut c, t0), [Got::Data { stream: 1, data: b"bc".to_vec(), end: true }]);
}

#[test]
fn the_connection_window_is_shared_by_all_streams() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[Setting::InitialWindowSize(1 << 20)], t0);
    for id in [1, 3] {
        c.received(&client.get(id, "/"));
        request_on(&mut c, t0);
        c.respond(id, &Response::new(200).body(vec![b'x'; 40_000]), false, t0);
    }
    let sent: usize = client
        .read(&mut c, t0)
        .iter()
        .map(|g| match g {
            Got::Data { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sent, 65_535, "the connection's initial window, no more");
}

#[test]
fn lowering_the_initial_window_can_make_windows_negative() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[Setting::InitialWindowSize(10)], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[event("0123456789ABCDEF")], t0);
    client.read(&mut c, t0);
    let mut s = Vec::new();
    frame::encode_settings(&[Setting::InitialWindowSize(0)], &mut s);
    c.received(&s);
    assert_eq!(events(&mut c, t0), []);
    assert_eq!(client.read(&mut c, t0), [Got::SettingsAck]);
    let mut update = Vec::new();
    frame::encode_window_update(1, 10, &mut update);
    c.received(&update);
    events(&mut c, t0);
    assert!(!c.wants_write(), "the window is 0 again, not 10 (RFC 9113 §6.9.2)");
    c.received(&update);
    events(&mut c, t0);
    assert_eq!(client.read(&mut c, t0), [Got::Data { stream: 1, data: b"456789ABCD".to_vec(), end: false }]);
}

#[test]
fn a_stream_past_its_queue_bound_is_reset() {
    let t0 = Instant::now();
    let mut cfg = Config::default();
    cfg.settings.max_queue_bytes = 100;
    let (mut c, mut client) = open(Arc::new(cfg), &[Setting::InitialWindowSize(0)], t0);
    c.received(&client.get(1, "/sse"));
    c.received(&client.get(3, "/sse"));
    for _ in 0..2 {
        let (id, _) = request_on(&mut c, t0);
        c.start_stream(id, &[], &[], t0);
    }
    let big = event(&"x".repeat(40));
    c.push(1, big.clone(), t0).unwrap();
    c.push(1, big.clone(), t0).unwrap();
    assert!(c.would_overflow(1, &big));
    assert!(c.push(1, big.clone(), t0).is_err());
    assert_eq!(events(&mut c, t0), [Event::Refused(Refusal::Overflow), Event::Closed { stream: 1 }]);
    let got = client.read(&mut c, t0);
    assert!(got.contains(&Got::Rst { stream: 1, code: ErrorCode::Cancel }), "{got:?}");
    assert!(c.push(3, big, t0).is_ok(), "the other stream goes on");
}

#[test]
fn data_that_finds_no_window_for_the_send_timeout_resets_its_stream() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[Setting::InitialWindowSize(0)], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    client.read(&mut c, t0);
    c.push(1, event("stuck"), t0).unwrap();
    client.read(&mut c, t0); // the round finds no window
    let due = c.poll_timeout().unwrap();
    assert!(due <= t0 + Settings::default().send_timeout);
    let t1 = t0 + Settings::default().send_timeout;
    assert_eq!(c.handle_timeout(t1).stalled_streams, 1);
    assert_eq!(events(&mut c, t1), [Event::Refused(Refusal::StalledStream), Event::Closed { stream: 1 }]);
    assert_eq!(client.read(&mut c, t1), [Got::Rst { stream: 1, code: ErrorCode::Cancel }]);
    assert_eq!(c.phase(), Phase::Open, "the connection goes on");
}

#[test]
fn keep_alives_go_to_idle_streams() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    client.read(&mut c, t0);
    let k = Settings::default().keep_alive.unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + k));
    assert_eq!(c.handle_timeout(t0 + k).keep_alives, 1);
    assert_eq!(client.read(&mut c, t0 + k), [Got::Data { stream: 1, data: b":\n\n".to_vec(), end: false }]);
}

#[test]
fn a_deferred_answer_that_does_not_come_is_a_503() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.defer(1, Duration::from_secs(5), t0);
    assert!(c.is_waiting(1));
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    assert_eq!(c.handle_timeout(t0 + Duration::from_secs(5)).no_answers, 1);
    let got = client.read(&mut c, t0);
    assert_eq!(status(&got[0]), Some("503"));
    assert!(!c.is_waiting(1));
}

#[test]
fn a_post_body_arrives_whole_and_is_held_to_its_length() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    let post = [(":method", "POST"), (":scheme", "http"), (":path", "/publish"), ("content-length", "5")];
    c.received(&client.headers(1, &post, false));
    assert_eq!(c.poll_event(t0), None, "the body is not here yet");
    let mut data = Vec::new();
    frame::encode_data(1, b"hel", false, &mut data);
    frame::encode_data(1, b"lo", true, &mut data);
    c.received(&data);
    let (_, req) = request_on(&mut c, t0);
    assert_eq!(req.body, b"hello");

    // Short of its content-length, and past it.
    for (chunks, id) in [(&[&b"hell"[..]][..], 3), (&[&b"hel"[..], b"lo!"][..], 5)] {
        c.received(&client.headers(id, &post, false));
        let mut data = Vec::new();
        for (i, chunk) in chunks.iter().enumerate() {
            frame::encode_data(id, chunk, i == chunks.len() - 1, &mut data);
        }
        c.received(&data);
        assert_eq!(events(&mut c, t0), [Event::Refused(Refusal::Malformed)], "stream {id}");
        assert!(client.read(&mut c, t0).contains(&Got::Rst { stream: id, code: ErrorCode::ProtocolError }));
    }
}

#[test]
fn a_body_past_the_limit_is_a_413() {
    let t0 = Instant::now();
    let mut cfg = Config::default();
    cfg.limits.max_body_bytes = 10;
    let (mut c, mut client) = open(Arc::new(cfg), &[], t0);
    let post = [(":method", "POST"), (":scheme", "http"), (":path", "/p")];
    c.received(&client.headers(1, &post, false));
    let mut data = Vec::new();
    frame::encode_data(1, &[b'x'; 11], false, &mut data);
    c.received(&data);
    assert_eq!(events(&mut c, t0), []);
    let got = client.read(&mut c, t0);
    assert_eq!(status(&got[0]), Some("413"));
    assert!(got.contains(&Got::Rst { stream: 1, code: ErrorCode::NoError }), "the answer is whole: {got:?}");
    // Announced too large: answered at once.
    let announced = [(":method", "POST"), (":scheme", "http"), (":path", "/p"), ("content-length", "11")];
    c.received(&client.headers(3, &announced, false));
    events(&mut c, t0);
    assert_eq!(status(&client.read(&mut c, t0)[0]), Some("413"));
}

#[test]
fn bodies_held_at_once_are_bounded_per_connection() {
    // Every stream's unfinished body counts: the DATA that would pass the bound refuses its
    // stream (REFUSED_STREAM: not processed, safe to send again); the others go on.
    let t0 = Instant::now();
    let mut cfg = Config::default();
    cfg.limits.max_body_bytes = 16;
    cfg.max_bodies_held = 20;
    let (mut c, mut client) = open(Arc::new(cfg), &[], t0);
    let post = [(":method", "POST"), (":scheme", "http"), (":path", "/p")];
    let data = |stream, n: usize, end| {
        let mut out = Vec::new();
        frame::encode_data(stream, &vec![b'x'; n], end, &mut out);
        out
    };
    c.received(&client.headers(1, &post, false));
    c.received(&client.headers(3, &post, false));
    c.received(&data(1, 12, false));
    c.received(&data(3, 8, false));
    assert_eq!(events(&mut c, t0), [], "20 held: at the bound");
    client.read(&mut c, t0);
    c.received(&data(3, 1, false));
    assert_eq!(events(&mut c, t0), [Event::Refused(Refusal::BodiesHeld)]);
    let got = client.read(&mut c, t0);
    assert!(got.contains(&Got::Rst { stream: 3, code: ErrorCode::RefusedStream }), "{got:?}");
    // Stream 3's 8 octets are let go: stream 1 finishes, and a new body fits again.
    c.received(&data(1, 4, true));
    let (stream, request) = request_on(&mut c, t0);
    assert_eq!((stream, request.body.len()), (1, 16));
    c.received(&client.headers(5, &post, false));
    c.received(&data(5, 16, true));
    assert_eq!(request_on(&mut c, t0).0, 5, "nothing held any more");
}

#[test]
fn received_data_is_given_back_with_window_updates() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    let post = [(":method", "POST"), (":scheme", "http"), (":path", "/p")];
    c.received(&client.headers(1, &post, false));
    let mut data = Vec::new();
    for _ in 0..3 {
        frame::encode_data(1, &[b'x'; 16_000], false, &mut data);
    }
    c.received(&data);
    assert_eq!(events(&mut c, t0), []);
    let got = client.read(&mut c, t0);
    assert!(got.contains(&Got::Window { stream: 0, inc: 48_000 }), "{got:?}");
    assert!(got.contains(&Got::Window { stream: 1, inc: 48_000 }), "{got:?}");
}

#[test]
fn malformed_requests_reset_their_stream_only() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.headers(1, &[(":method", "GET"), (":path", "/")], true));
    assert_eq!(events(&mut c, t0), [Event::Refused(Refusal::Malformed)]);
    assert_eq!(client.read(&mut c, t0), [Got::Rst { stream: 1, code: ErrorCode::ProtocolError }]);
    c.received(&client.get(3, "/"));
    assert!(matches!(c.poll_event(t0), Some(Event::Request { stream: 3, .. })));
}

/// The client sends `bytes`; the connection ends with a `GOAWAY` of `code`.
fn goes_away(setup: &[Setting], bytes: &dyn Fn(&mut Client) -> Vec<u8>, code: ErrorCode, why: Refusal) {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), setup, t0);
    let wire = bytes(&mut client);
    c.received(&wire);
    let evs = events(&mut c, t0);
    assert!(evs.contains(&Event::Refused(why)), "{evs:?}");
    let got = client.read(&mut c, t0);
    assert!(
        got.iter().any(|g| matches!(g, Got::GoAway { code: c, .. } if *c == code)),
        "wanted GOAWAY {code}: {got:?}"
    );
    assert_eq!(c.phase(), Phase::Lingering, "written, FIN due");
    assert!(c.poll_fin());
}

#[test]
fn connection_errors() {
    let rst = |id| {
        let mut v = Vec::new();
        frame::encode_rst_stream(id, ErrorCode::Cancel, &mut v);
        v
    };
    goes_away(&[], &|c| c.get(2, "/"), ErrorCode::ProtocolError, Refusal::Protocol);
    goes_away(&[], &|c| [c.get(5, "/"), c.get(3, "/")].concat(), ErrorCode::ProtocolError, Refusal::Protocol);
    goes_away(&[], &|_| rst(7), ErrorCode::ProtocolError, Refusal::Protocol);
    goes_away(
        &[],
        &|_| {
            let mut v = Vec::new();
            frame::encode_data(1, b"x", true, &mut v);
            v
        },
        ErrorCode::ProtocolError,
        Refusal::Protocol,
    );
    goes_away(
        &[],
        &|_| {
            let mut v = Vec::new();
            frame::encode_window_update(0, MAX_WINDOW_SIZE_TEST, &mut v);
            v
        },
        ErrorCode::FlowControlError,
        Refusal::FlowControl,
    );
    goes_away(
        &[],
        &|c| {
            let mut v = c.headers(1, &[(":method", "GET")], true);
            v[4] &= !frame::flags::END_HEADERS; // a block that goes on...
            frame::encode_ping([0; 8], &mut v); // ...interrupted
            v
        },
        ErrorCode::ProtocolError,
        Refusal::Protocol,
    );
    // A header block that cannot be decoded: an index past both tables.
    goes_away(
        &[],
        &|_| {
            let mut v = Vec::new();
            frame::encode_headers(1, &[0xff, 0x7f], true, 16_384, &mut v);
            v
        },
        ErrorCode::CompressionError,
        Refusal::Compression,
    );
}

const MAX_WINDOW_SIZE_TEST: u32 = crate::h2::MAX_WINDOW_SIZE;

#[test]
fn a_closed_stream_is_told_stream_closed() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/"));
    request_on(&mut c, t0);
    c.respond(1, &Response::text(200, "x"), false, t0);
    client.read(&mut c, t0);
    events(&mut c, t0);
    let mut data = Vec::new();
    frame::encode_data(1, b"late", true, &mut data);
    c.received(&data);
    assert_eq!(events(&mut c, t0), [Event::Refused(Refusal::Protocol)]);
    assert_eq!(client.read(&mut c, t0), [Got::Rst { stream: 1, code: ErrorCode::StreamClosed }]);
    c.received(&client.get(1, "/"));
    events(&mut c, t0);
    assert!(client.read(&mut c, t0).contains(&Got::GoAway { last: 1, code: ErrorCode::StreamClosed }));
}

#[test]
fn streams_past_the_concurrency_limit_are_refused() {
    let t0 = Instant::now();
    let cfg = Config { max_concurrent_streams: 2, ..Config::default() };
    let (mut c, mut client) = open(Arc::new(cfg), &[], t0);
    for id in [1, 3, 5] {
        c.received(&client.get(id, "/sse"));
    }
    let evs = events(&mut c, t0);
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[2], Event::Refused(Refusal::TooManyStreams));
    assert_eq!(client.read(&mut c, t0), [Got::Rst { stream: 5, code: ErrorCode::RefusedStream }]);
}

#[test]
fn rapid_reset_is_told_to_calm_down() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    let mut wire = Vec::new();
    for i in 0..300u32 {
        let id = 2 * i + 1;
        wire.extend(client.get(id, "/"));
        frame::encode_rst_stream(id, ErrorCode::Cancel, &mut wire);
    }
    c.received(&wire);
    let evs = events(&mut c, t0);
    let requests = evs.iter().filter(|e| matches!(e, Event::Request { .. })).count();
    assert_eq!(requests, 201, "a burst of twice the rate, then the one that empties the bucket");
    assert!(evs.contains(&Event::Refused(Refusal::RapidReset)));
    assert!(
        client
            .read(&mut c, t0)
            .iter()
            .any(|g| matches!(g, Got::GoAway { code: ErrorCode::EnhanceYourCalm, .. }))
    );
}

#[test]
fn pings_and_settings_floods_are_told_to_calm_down() {
    for kind in ["ping", "settings", "priority"] {
        goes_away(
            &[],
            &|_| {
                let mut v = Vec::new();
                for _ in 0..1001 {
                    match kind {
                        "ping" => frame::encode_ping([1; 8], &mut v),
                        "settings" => frame::encode_settings(&[], &mut v),
                        _ => v.extend_from_slice(&[0, 0, 5, 0x2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 16]),
                    }
                }
                v
            },
            ErrorCode::EnhanceYourCalm,
            Refusal::ControlFlood,
        );
    }
}

#[test]
fn a_ping_is_answered() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    let mut v = Vec::new();
    frame::encode_ping(*b"12345678", &mut v);
    c.received(&v);
    events(&mut c, t0);
    assert_eq!(client.read(&mut c, t0), [Got::PingAck(*b"12345678")]);
}

#[test]
fn a_continuation_flood_is_cut_off() {
    goes_away(
        &[],
        &|c| {
            let mut v = c.headers(1, &[(":method", "GET")], true);
            v[4] &= !frame::flags::END_HEADERS;
            for _ in 0..MAX_BLOCK_FRAMES {
                v.extend_from_slice(&[0, 0, 1, 0x9, 0, 0, 0, 0, 1, 0x82]);
            }
            v
        },
        ErrorCode::EnhanceYourCalm,
        Refusal::HeaderBlockTooLarge,
    );
    goes_away(
        &[],
        &|c| {
            let mut v = c.headers(1, &[(":method", "GET")], true);
            v[4] &= !frame::flags::END_HEADERS;
            for _ in 0..5 {
                v.extend_from_slice(&[0, 0x40, 0, 0x9, 0, 0, 0, 0, 1]);
                v.extend_from_slice(&[0x82; 16_384]);
            }
            v
        },
        ErrorCode::EnhanceYourCalm,
        Refusal::HeaderBlockTooLarge,
    );
}

#[test]
fn a_header_list_that_decompresses_large_is_a_431() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    // One 4 KB field into the dynamic table, then referred to by its index many times: a few
    // bytes on the wire, far more once decoded (the HPACK bomb).
    let big = "v".repeat(900);
    let mut fields = vec![(":method", "GET"), (":scheme", "http"), (":path", "/")];
    fields.push(("x-big", &big));
    let mut block = Vec::new();
    client.enc.encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())), &mut block);
    block.extend(std::iter::repeat_n(0xbe, 20)); // index 62: the newest dynamic entry
    let mut v = Vec::new();
    frame::encode_headers(1, &block, true, 16_384, &mut v);
    c.received(&v);
    assert_eq!(events(&mut c, t0), [Event::Refused(Refusal::HeaderListTooLarge)]);
    let got = client.read(&mut c, t0);
    assert_eq!(status(&got[0]), Some("431"));
    // The HPACK context survived: the next request decodes.
    c.received(&client.get(3, "/"));
    assert!(matches!(c.poll_event(t0), Some(Event::Request { stream: 3, .. })));
}

#[test]
fn the_highest_stream_id_is_usable_and_then_nothing_below() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    let top = crate::h2::MAX_STREAM_ID;
    c.received(&client.get(top, "/"));
    assert!(matches!(c.poll_event(t0), Some(Event::Request { stream, .. }) if stream == top));
    c.received(&client.get(top - 2, "/"));
    assert_eq!(events(&mut c, t0), [Event::Refused(Refusal::Protocol), Event::Closed { stream: top }]);
}

#[test]
fn shutdown_sends_goaway_and_ends_the_streams() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    client.read(&mut c, t0);
    c.shutdown(t0);
    let got = client.read(&mut c, t0);
    assert_eq!(
        got,
        [
            Got::GoAway { last: 1, code: ErrorCode::NoError },
            Got::Data { stream: 1, data: Vec::new(), end: true }
        ]
    );
    assert_eq!(events(&mut c, t0), [Event::Closed { stream: 1 }]);
    assert_eq!(c.phase(), Phase::Lingering, "nothing left: written, FIN due");
    assert!(c.poll_fin());
    c.peer_closed();
    assert_eq!(c.phase(), Phase::Closed);
}

#[test]
fn a_drain_sends_goaway_and_the_streams_go_on_until_each_is_ended() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    for id in [1, 3] {
        c.received(&client.get(id, "/sse"));
        request_on(&mut c, t0);
        c.start_stream(id, &[], &[], t0);
    }
    client.read(&mut c, t0);
    c.drain(t0);
    assert_eq!(client.read(&mut c, t0), [Got::GoAway { last: 3, code: ErrorCode::NoError }]);
    assert_eq!(c.phase(), Phase::Draining);
    // A stream opened past the GOAWAY is ignored; the open ones still get events.
    c.received(&client.get(5, "/sse"));
    assert_eq!(events(&mut c, t0), []);
    c.push(1, event("a"), t0).unwrap();
    assert_eq!(client.read(&mut c, t0), [Got::Data { stream: 1, data: b"data: a\n\n".to_vec(), end: false }]);
    c.finish_stream(1, t0);
    assert_eq!(client.read(&mut c, t0), [Got::Data { stream: 1, data: Vec::new(), end: true }]);
    assert_eq!(events(&mut c, t0), [Event::Closed { stream: 1 }]);
    assert_eq!(c.phase(), Phase::Draining, "stream 3 goes on");
    c.drain(t0); // again: nothing more
    c.finish_stream(3, t0);
    assert_eq!(client.read(&mut c, t0), [Got::Data { stream: 3, data: Vec::new(), end: true }]);
    assert_eq!(events(&mut c, t0), [Event::Closed { stream: 3 }]);
    assert_eq!(c.phase(), Phase::Lingering, "the last stream ended: written, FIN due");
}

#[test]
fn an_idle_connection_goes_away_quietly() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    let idle = Settings::default().idle_timeout;
    assert_eq!(c.poll_timeout(), Some(t0 + idle));
    assert!(c.handle_timeout(t0 + idle).idle);
    assert_eq!(client.read(&mut c, t0 + idle), [Got::GoAway { last: 0, code: ErrorCode::NoError }]);
}

#[test]
fn a_preface_that_does_not_come_ends_the_connection() {
    let t0 = Instant::now();
    let mut c = Connection::new(config(), QueuePool::new(usize::MAX), t0);
    c.received(&PREFACE[..10]);
    assert_eq!(c.poll_event(t0), None);
    let late = t0 + Settings::default().header_timeout;
    assert_eq!(c.poll_timeout(), Some(late));
    assert!(c.handle_timeout(late).late);
    assert_eq!(events(&mut c, late), [Event::Refused(Refusal::Timeout)]);
    let mut wrong = Connection::new(config(), QueuePool::new(usize::MAX), t0);
    wrong.received(b"PRI * HTTP/2.0\r\n\r\nXX");
    assert_eq!(events(&mut wrong, t0), [Event::Refused(Refusal::Protocol)]);
}

#[test]
fn a_peer_that_does_not_read_stops_being_read() {
    let t0 = Instant::now();
    let mut cfg = Config::default();
    cfg.settings.max_queue_bytes = 1000;
    let (mut c, _client) = open(Arc::new(cfg), &[], t0);
    let mut v = Vec::new();
    for _ in 0..200 {
        frame::encode_ping([0; 8], &mut v);
    }
    c.received(&v);
    events(&mut c, t0);
    assert!(!c.wants_read(), "the acknowledgements wait unread");
    let stall = t0 + Settings::default().send_timeout;
    assert!(c.handle_timeout(stall).stalled);
    assert_eq!(c.phase(), Phase::Closed);
}

#[test]
fn a_client_reset_reports_the_stream_closed() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    let mut v = Vec::new();
    frame::encode_rst_stream(1, ErrorCode::Cancel, &mut v);
    c.received(&v);
    assert_eq!(events(&mut c, t0), [Event::Closed { stream: 1 }]);
    assert!(c.push(1, event("gone"), t0).is_ok(), "quietly nothing");
}

#[test]
fn a_peer_that_leaves_mid_stream_closes_the_connection_through_a_write() {
    // Found against curl: the peer's FIN with nothing queued left the connection Closing for
    // ever, since a driver writes only when there is something to write.
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    client.read(&mut c, t0);
    c.peer_closed();
    assert_eq!(events(&mut c, t0), [Event::Closed { stream: 1 }]);
    assert!(c.wants_write(), "the driver is told to write, which settles the close");
    c.write_to(&mut Vec::new(), t0).unwrap();
    assert_eq!(c.phase(), Phase::Closed);
    assert!(!c.wants_read());
}

#[test]
fn an_event_stream_ends_at_its_end_and_no_sooner() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    client.read(&mut c, t0);
    let end = t0 + Duration::from_secs(3);
    c.end_stream_at(1, end);
    assert_eq!(c.poll_timeout(), Some(end), "sooner than the keep-alive");
    assert_eq!(c.handle_timeout(end - Duration::from_millis(1)).ended, 0);
    assert_eq!(c.handle_timeout(end).ended, 1);
    assert_eq!(client.read(&mut c, end), [Got::Data { stream: 1, data: Vec::new(), end: true }]);
    assert_eq!(events(&mut c, end), [Event::Closed { stream: 1 }]);
}

/// A POST's HEADERS without END_STREAM (the request stays open).
fn post_open(client: &mut Client, stream: u32) -> Vec<u8> {
    client.headers(
        stream,
        &[(":method", "POST"), (":scheme", "http"), (":authority", "h"), (":path", "/p")],
        false,
    )
}

#[test]
fn a_second_goaway_never_names_a_higher_stream() {
    // Found by the h2_conn fuzz target: the streams ignored after our graceful GOAWAY still
    // raised the last id the closing GOAWAY named (RFC 9113 §6.8: it must not go up).
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    let mut input = post_open(&mut client, 1);
    frame::encode_goaway(0, ErrorCode::NoError, b"", &mut input);
    c.received(&input);
    let _ = events(&mut c, t0);
    let mut input = client.get(3, "/sse"); // after our GOAWAY: ignored
    frame::encode_rst_stream(5, ErrorCode::Cancel, &mut input); // an idle stream: connection error
    c.received(&input);
    let _ = events(&mut c, t0);
    let lasts: Vec<(u32, ErrorCode)> = client
        .read(&mut c, t0)
        .into_iter()
        .filter_map(|g| match g {
            Got::GoAway { last, code } => Some((last, code)),
            _ => None,
        })
        .collect();
    assert_eq!(lasts, [(1, ErrorCode::NoError), (1, ErrorCode::ProtocolError)]);
}

#[test]
fn an_idle_stream_we_reset_is_closed_for_good() {
    // Found by the h2_conn fuzz target: after RST_STREAM on an idle stream (a PRIORITY that
    // depends on itself), a HEADERS on that id opened it as a new stream and was answered.
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    let priority_on_itself = [0, 0, 5, 0x2, 0, 0, 0, 0, 5, 0, 0, 0, 5, 16];
    c.received(&priority_on_itself);
    assert_eq!(events(&mut c, t0), [Event::Refused(Refusal::Protocol)]);
    assert_eq!(client.read(&mut c, t0), [Got::Rst { stream: 5, code: ErrorCode::ProtocolError }]);
    c.received(&client.get(5, "/sse"));
    let got = events(&mut c, t0);
    assert!(!got.iter().any(|e| matches!(e, Event::Request { .. })), "{got:?}");
    let read = client.read(&mut c, t0);
    assert!(
        matches!(
            read.as_slice(),
            [Got::GoAway { code: ErrorCode::StreamClosed | ErrorCode::ProtocolError, .. }]
        ),
        "{read:?}"
    );
}

// ---- the access log's tally: what each stream sent, and why it ended ----

/// The wire bytes the server wrote after the handshake, and the tally of stream 1 once closed.
fn tally_after(c: &mut Connection, client: &mut Client, now: Instant) -> StreamTally {
    client.read(c, now);
    assert!(events(c, now).contains(&Event::Closed { stream: 1 }));
    c.tally(1).expect("the tally of the stream last closed")
}

#[test]
fn a_stream_counts_its_events_and_frame_bytes_and_ends_for_its_reason() {
    use crate::proto::stream_end::EndReason;
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[Frame::comment("ok")], t0);
    let mut wire = Vec::new();
    c.write_to(&mut wire, t0).unwrap();
    c.push(1, event("a"), t0).unwrap();
    c.push(1, event("b"), t0).unwrap();
    c.write_to(&mut wire, t0).unwrap();
    let so_far = c.tally(1).expect("an open stream's tally");
    assert_eq!((so_far.sent.events, so_far.reason), (2, None), "the :ok comment is no event");
    assert_eq!(so_far.sent.bytes as usize, wire.len(), "HEADERS and DATA frames, all of them");
    let mut rst = Vec::new();
    frame::encode_rst_stream(1, ErrorCode::Cancel, &mut rst);
    c.received(&rst);
    let t = tally_after(&mut c, &mut client, t0);
    assert_eq!((t.sent.events, t.reason), (2, Some(EndReason::ClientLeft)));

    // Past the queue bound: a slow client.
    let mut cfg = Config::default();
    cfg.settings.max_queue_bytes = 100;
    let (mut c, mut client) = open(Arc::new(cfg), &[Setting::InitialWindowSize(0)], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    let big = event(&"x".repeat(60));
    c.push(1, big.clone(), t0).unwrap();
    assert!(c.push(1, big, t0).is_err());
    let t = tally_after(&mut c, &mut client, t0);
    assert_eq!((t.sent.events, t.reason), (0, Some(EndReason::SlowClient)));

    // No window for the send timeout.
    let (mut c, mut client) = open(config(), &[Setting::InitialWindowSize(0)], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    c.push(1, event("stuck"), t0).unwrap();
    client.read(&mut c, t0);
    let t1 = t0 + Settings::default().send_timeout;
    c.handle_timeout(t1);
    assert_eq!(tally_after(&mut c, &mut client, t1).reason, Some(EndReason::SendTimeout));

    // The server shuts down; the token expires; the application ends the stream.
    for (end, reason) in [(0, EndReason::Shutdown), (1, EndReason::AuthExpired), (2, EndReason::Closed)] {
        let (mut c, mut client) = open(config(), &[], t0);
        c.received(&client.get(1, "/sse"));
        request_on(&mut c, t0);
        c.start_stream(1, &[], &[], t0);
        match end {
            0 => c.shutdown(t0),
            1 => {
                c.end_stream_at(1, t0);
                c.handle_timeout(t0);
            }
            _ => c.finish_stream(1, t0),
        }
        assert_eq!(tally_after(&mut c, &mut client, t0).reason, Some(reason));
    }

    // The client goes away under the connection: nothing said why (the server says client_left).
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    c.abort();
    assert_eq!(tally_after(&mut c, &mut client, t0).reason, None);
    c.peer_closed();
}

#[test]
fn a_protocol_error_ends_the_streams_as_such() {
    use crate::proto::stream_end::EndReason;
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    c.received(&client.get(2, "/sse")); // an even stream id: a connection error
    let t = tally_after(&mut c, &mut client, t0);
    assert_eq!(t.reason, Some(EndReason::ProtocolError));
}

mod flow_control {
    //! Flow control as a property: whatever the windows and whatever order the client's
    //! `WINDOW_UPDATE`s come in, the server never sends a stream more than its window nor the
    //! connection more than its own (RFC 9113 §6.9), never a frame over the peer's frame size,
    //! and, once given room, sends every body whole and in order.

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        /// `WINDOW_UPDATE` on stream `0` (the connection) or on the `n`th stream.
        Update { on: usize, inc: u32 },
        /// The client reads what the server can write.
        Read,
    }

    fn op(streams: usize) -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..=streams, 1u32..40_000).prop_map(|(on, inc)| Op::Update { on, inc }),
            2 => Just(Op::Read),
        ]
    }

    fn case() -> impl Strategy<Value = (u32, Vec<usize>, Vec<Op>)> {
        (0u32..70_000, prop::collection::vec(0usize..120_000, 1..4)).prop_flat_map(|(initial, bodies)| {
            let n = bodies.len();
            (Just(initial), Just(bodies), prop::collection::vec(op(n), 0..40))
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn data_never_exceeds_a_window_and_every_body_arrives_whole((initial, bodies, ops) in case()) {
            let t0 = Instant::now();
            let (mut c, mut client) = open(config(), &[Setting::InitialWindowSize(initial)], t0);
            let ids: Vec<u32> = (0..bodies.len() as u32).map(|n| 2 * n + 1).collect();
            for (id, len) in ids.iter().zip(&bodies) {
                c.received(&client.get(*id, "/"));
                request_on(&mut c, t0);
                let body: Vec<u8> = (0..*len).map(|i| (i % 251) as u8).collect();
                c.respond(*id, &Response::new(200).body(body), false, t0);
            }
            let mut allowed: Vec<u64> = vec![u64::from(initial); ids.len()];
            let mut connection_allowed: u64 = 65_535;
            let mut got: Vec<Vec<u8>> = vec![Vec::new(); ids.len()];
            let mut ended = vec![false; ids.len()];
            let check = |frames: Vec<Got>, got: &mut Vec<Vec<u8>>, ended: &mut Vec<bool>, allowed: &[u64], conn: u64| {
                for f in frames {
                    if let Got::Data { stream, data, end } = f {
                        prop_assert!(data.len() <= 16_384, "a frame of {} bytes", data.len());
                        let n = ids.iter().position(|id| *id == stream).unwrap();
                        prop_assert!(!ended[n], "data after END_STREAM");
                        got[n].extend_from_slice(&data);
                        ended[n] |= end;
                        prop_assert!(got[n].len() as u64 <= allowed[n], "stream {stream}: {} > {}", got[n].len(), allowed[n]);
                    }
                }
                let total: u64 = got.iter().map(|g| g.len() as u64).sum();
                prop_assert!(total <= conn, "connection: {total} > {conn}");
                Ok(())
            };
            for op in ops {
                match op {
                    Op::Update { on, inc } => {
                        let mut v = Vec::new();
                        if on == 0 {
                            connection_allowed += u64::from(inc);
                            frame::encode_window_update(0, inc, &mut v);
                        } else {
                            allowed[on - 1] += u64::from(inc);
                            frame::encode_window_update(ids[on - 1], inc, &mut v);
                        }
                        c.received(&v);
                        // A window update may let a stream finish: it reports it closed.
                        let closed = |e: &Event| matches!(e, Event::Closed { .. });
                        prop_assert!(events(&mut c, t0).iter().all(closed));
                    }
                    Op::Read => {
                        let frames = client.read(&mut c, t0);
                        check(frames, &mut got, &mut ended, &allowed, connection_allowed)?;
                    }
                }
            }
            // Room for everything: every body arrives, whole, in order, ended once.
            let mut v = Vec::new();
            frame::encode_window_update(0, 1 << 30, &mut v);
            for id in &ids {
                frame::encode_window_update(*id, 1 << 30, &mut v);
            }
            c.received(&v);
            // As the driver does after every read: the events (streams closed) are taken.
            let _ = events(&mut c, t0);
            for a in &mut allowed {
                *a += 1 << 30;
            }
            connection_allowed += 1 << 30;
            // A write pass is bounded: read until the server has nothing more to write.
            for _ in 0..1_000 {
                let frames = client.read(&mut c, t0);
                if frames.is_empty() && !c.wants_write() {
                    break;
                }
                check(frames, &mut got, &mut ended, &allowed, connection_allowed)?;
            }
            for (n, len) in bodies.iter().enumerate() {
                let body: Vec<u8> = (0..*len).map(|i| (i % 251) as u8).collect();
                prop_assert!(got[n] == body, "stream {}: {} of {} bytes, in order", ids[n], got[n].len(), body.len());
                prop_assert!(ended[n], "stream {} ended", ids[n]);
            }
        }
    }
}

/// Windows are kept in four bytes: at 2^31 - 1 they still work, past it they are refused
/// (RFC 9113 §6.9.1), from a `WINDOW_UPDATE` (the stream) or a `SETTINGS` (the connection).
#[test]
fn stream_windows_at_their_bound() {
    let t0 = Instant::now();
    let max = MAX_WINDOW_SIZE_TEST;
    let update = |id, inc| {
        let mut v = Vec::new();
        frame::encode_window_update(id, inc, &mut v);
        v
    };
    // Opened at the largest window: one more octet resets the stream.
    let (mut c, mut client) = open(config(), &[Setting::InitialWindowSize(max)], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    client.read(&mut c, t0);
    c.received(&update(1, 1));
    assert_eq!(events(&mut c, t0), [Event::Refused(Refusal::FlowControl), Event::Closed { stream: 1 }]);
    assert_eq!(client.read(&mut c, t0), [Got::Rst { stream: 1, code: ErrorCode::FlowControlError }]);
    // Raised to the largest by WINDOW_UPDATE, then past it by SETTINGS: the connection ends.
    let (mut c, mut client) = open(config(), &[], t0);
    c.received(&client.get(1, "/sse"));
    request_on(&mut c, t0);
    c.start_stream(1, &[], &[], t0);
    client.read(&mut c, t0);
    c.received(&update(1, max - crate::h2::DEFAULT_INITIAL_WINDOW_SIZE));
    assert_eq!(events(&mut c, t0), []);
    let mut s = Vec::new();
    frame::encode_settings(&[Setting::InitialWindowSize(crate::h2::DEFAULT_INITIAL_WINDOW_SIZE + 1)], &mut s);
    c.received(&s);
    let got = events(&mut c, t0);
    assert_eq!(got[0], Event::Refused(Refusal::FlowControl), "{got:?}");
    let got = client.read(&mut c, t0);
    assert!(got.contains(&Got::GoAway { last: 1, code: ErrorCode::FlowControlError }), "{got:?}");
}

/// A connection's list of streams grows a few at a time, not doubling (each stream there is
/// 168 bytes for the connection's life: BENCHMARKS.md, HTTP/2 memory per stream).
#[test]
fn the_list_of_streams_grows_a_few_at_a_time() {
    let t0 = Instant::now();
    let (mut c, mut client) = open(config(), &[], t0);
    for n in 1..=10u32 {
        c.received(&client.get(2 * n - 1, "/sse"));
        request_on(&mut c, t0);
        c.start_stream(2 * n - 1, &[], &[], t0);
    }
    assert_eq!(c.open_streams(), 10);
    assert!(c.streams.capacity() <= 12, "{}", c.streams.capacity());
}
