//! What a worker does with each request: the routing decision ([`route`]) carried out.
//!
//! ```text
//! Conn::poll_request | h2 poll_event ─► Request ─► route ─┬─ Fallback ──► the application's handler ─► respond
//!                                         ├─ Metrics ───► the server's counters ─────► respond
//!                                         ├─ Publish ───► hub::publish::check ─► Hub (or Redis, deferred)
//!                                         ├─ Respond ───► the refusal route chose ───► respond
//!                                         └─ Stream ────► verify, channels, policy, Hub::resume ─► start_stream
//!                                                         (or, with a backplane, deferred: Join;
//!                                                          while draining: drain::turn_away)
//! ```
//!
//! Before routing, on either listener: the probe paths (`/healthz`, `/readyz`: health.rs).
//!
//! The decisions are the pure modules' ([`crate::http`], [`crate::hub`]); this file calls the
//! application's callbacks (catching their panics) and hands the answers to the connection.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::handle::{ClientInner, DEFER_STREAM, Join, JoinFor, Unavailable, WAIT};
use super::slots::{ConnId, Key};
use super::worker::{Link, Live, PendingStream, Worker};
use super::{Client, Rejection, Shared, since_epoch};
use crate::auth::Access;
use crate::h2::conn as h2;
use crate::http::request::Request;
use crate::http::route::{Decision, route};
use crate::http::{Framing, Response, answer};
use crate::hub::fanout::{Member, Replaying};
use crate::hub::{Resume, Then, publish, requested_channels, validate_channels};
use crate::proto::{Input, Protocol};

/// Most replay bytes taken from the hub at once (under its lock) once a stream's first replay
/// is written, per stream.
pub(crate) const REPLAY_BATCH: usize = 64 * 1024;

impl Worker {
    /// Answers the complete requests socket `i` has received; `true` if it took any.
    pub(super) fn take_requests(&mut self, i: usize, now: Instant) -> bool {
        let mut took = false;
        loop {
            let Some(sock) = self.slots.at(i).and_then(Live::socket) else { return took };
            let input = match &mut sock.proto {
                Protocol::Http1(conn) => conn.poll_request(&self.shared.config.limits, now),
                Protocol::Http2(_) => return self.take_streams(i, now) || took,
            };
            match input {
                Input::NeedMore => return took,
                Input::Refused(_) => {
                    self.shared.reject(Rejection::Malformed);
                    return true;
                }
                Input::Http2 => match &self.h2 {
                    Some((config, _)) => sock.switch_to_http2(config, &self.pool, &self.shared.counters, now),
                    // Read as HTTP/1 then: the preface is a 505 like any other version.
                    None => {
                        if let Some(conn) = sock.proto.http1() {
                            conn.no_http2();
                        }
                    }
                },
                Input::Request(request) => {
                    let key = self.slots.key_at(i).expect("occupied");
                    self.handle_request(key, request, now)
                }
                Input::Expect(request) => self.handle_expect(i, &request, now),
            }
            took = true;
        }
    }

    /// Takes what HTTP/2 socket `i` has for us: requests on new streams (each gets a slot of
    /// its own and is answered as an HTTP/1.1 request is), streams that ended, refusals to
    /// count. `true` if there was anything.
    fn take_streams(&mut self, i: usize, now: Instant) -> bool {
        let Some(parent) = self.slots.key_at(i) else { return false };
        let mut took = false;
        loop {
            let Some(live) = self.slots.at(i) else { return took };
            let admin = live.admin;
            let Some(h2) = live.socket().and_then(|s| s.proto.http2()) else { return took };
            let Some(event) = h2.poll_event(now) else { return took };
            took = true;
            match event {
                h2::Event::Request { stream, request } => {
                    let link = Link::Stream { parent, id: stream };
                    let live = Live::new(link, admin);
                    let key = self.slots.insert(live);
                    if let Some(sock) = self.slots.get(parent).and_then(Live::socket) {
                        h2::push_stepped(&mut sock.streams, super::slots::Child::new(stream, key));
                    }
                    self.handle_request(key, request, now);
                }
                h2::Event::Closed { stream } => {
                    let tally = h2.tally(stream);
                    let key = self
                        .slots
                        .get(parent)
                        .and_then(Live::socket)
                        .and_then(|s| s.streams.iter().find(|c| c.id == stream).map(|c| c.key()));
                    if let Some(key) = key {
                        self.finalize_tallied(key.slot, tally);
                    }
                }
                h2::Event::Refused(why) => {
                    let counters = &self.shared.counters;
                    if let Some(at) = h2::Refusal::ALL.iter().position(|r| *r == why) {
                        counters.h2_refusals[at].fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// Answers `Expect: 100-continue`: the body may come unless the request is refused already
    /// (a wrong publish token, a body for the stream path...), which is answered at once.
    fn handle_expect(&mut self, i: usize, req: &Request, now: Instant) {
        let shared = self.shared.clone();
        let config = &shared.config;
        let Some(key) = self.slots.key_at(i) else { return };
        if self.slots.at(i).is_some_and(|l| l.admin) {
            // The metrics listener takes no bodies it would read: answered as any other request.
            if let Some(mut e) = self.endpoint(key) {
                e.continue_body(now);
            }
            return;
        }
        let refusal = match route(req, &config.route) {
            Decision::Publish => catch(&shared, || publish::authorize(req, &shared.publishers()))
                .unwrap_or(Err(publish::PublishRefusal::PolicyFailed))
                .err()
                .map(|r| (Rejection::Publish, answer::refusal(&r))),
            Decision::Respond { response, .. } => Some((Rejection::Route, response)),
            Decision::Stream { .. } => {
                Some((Rejection::Route, Response::error(400, "the stream path takes no request body")))
            }
            Decision::Fallback | Decision::Metrics | Decision::Presence { .. } => None,
        };
        let Some(mut e) = self.endpoint(key) else { return };
        match refusal {
            None => e.continue_body(now),
            Some((why, response)) => {
                shared.reject(why);
                e.respond(&response, Framing::of(req).closing(), now);
            }
        }
    }

    /// Answers the request in slot `key` (an HTTP/1.1 connection, or an HTTP/2 stream).
    fn handle_request(&mut self, key: Key, req: Request, now: Instant) {
        let shared = self.shared.clone();
        let config = &shared.config;
        let framing = Framing::of(&req);
        let Some(live) = self.slots.get(key) else { return };
        let respond = |w: &mut Worker, response: &Response, framing: Framing| {
            if let Some(mut e) = w.endpoint(key) {
                e.respond(response, framing, now);
            }
        };
        let probe = super::health::probe_for(
            &req.path,
            config.healthz_path.as_deref(),
            config.readyz_path.as_deref(),
        );
        if let Some(probe) = probe {
            // On either listener, before anything else: a probe touches no stream.
            let response = match req.method.as_str() {
                "GET" | "HEAD" => shared.probe(probe),
                _ => Response::error(405, "a probe answers GET and HEAD").header("Allow", "GET, HEAD"),
            };
            return respond(self, &response, framing);
        }
        if live.admin {
            // The metrics listener: the metrics at their path, nothing else (not even the
            // application's fallback: this port is for operators).
            let metrics = shared.metrics_path.as_deref() == Some(req.path.as_str())
                && matches!(req.method.as_str(), "GET" | "HEAD");
            let response = if metrics { metrics_answer(&shared) } else { Response::not_found() };
            return respond(self, &response, framing);
        }
        match route(&req, &config.route) {
            Decision::Fallback => {
                let response = match &shared.callbacks.fallback {
                    Some(f) => {
                        catch(&shared, || f(&req)).unwrap_or_else(|| Response::error(500, "handler failed"))
                    }
                    None => Response::not_found(),
                };
                respond(self, &response, framing);
            }
            Decision::Publish => {
                let checked = catch(&shared, || publish::check(&req, &shared.publishers()));
                let response = match checked.unwrap_or(Err(publish::PublishRefusal::PolicyFailed)) {
                    Err(refusal) => {
                        shared.reject(Rejection::Publish);
                        answer::refusal(&refusal)
                    }
                    Ok(p) => match &shared.backplane {
                        // Checked here, once (nothing else encodes it before Redis stores it),
                        // then acknowledged once Redis has it: the publish thread answers, later.
                        Some(backplane) => match p.event.validate() {
                            Err(e) => answer::refusal(&publish::PublishRefusal::Event(e)),
                            Ok(()) => {
                                if let Some(mut e) = self.endpoint(key) {
                                    e.defer(WAIT, now);
                                }
                                let id = ConnId { worker: self.index, key };
                                if backplane.publish_http(id, p.target, p.event, p.key, framing) {
                                    return;
                                }
                                answer::refusal(&Unavailable::ShutDown)
                            }
                        },
                        None => match shared.publish_keyed(&p.target, p.event, p.key.as_ref()) {
                            Ok(receipt) => answer::receipt(&receipt.id, receipt.replayed),
                            Err(e) => answer::refusal(&e),
                        },
                    },
                };
                respond(self, &response, framing);
            }
            Decision::Metrics => respond(self, &metrics_answer(&shared), framing),
            Decision::Presence { channel } => {
                let answer = super::presence::answer(&shared, &req, channel.as_deref());
                respond(self, &answer, framing)
            }
            Decision::Respond { response, close } => {
                shared.reject(Rejection::Route);
                let framing = if close { framing.closing() } else { framing };
                respond(self, &response, framing);
            }
            Decision::Stream { mut headers } if shared.draining.load(Ordering::Relaxed) => {
                // Not `503`: an `EventSource` would give up; an ended stream it reconnects
                // (elsewhere: this node takes no new connections), keeping its Last-Event-ID.
                let hint = super::drain::retry_hint(shared.next_client_id.fetch_add(1, Ordering::Relaxed));
                let mut response = super::drain::turn_away(hint);
                response.headers.append(&mut headers);
                respond(self, &response, framing.closing());
            }
            Decision::Stream { headers } => match check_stream(&shared, &req) {
                Ok((channels, access)) => self.open_stream(key, req, headers, channels, access, now),
                Err((why, mut response)) => {
                    shared.reject(why);
                    // The CORS headers too: a cross-origin client may read why (401, 403...).
                    response.headers.extend(headers);
                    respond(self, &response, framing);
                }
            },
        }
    }

    /// Turns the request in slot `key` into a stream on `channels`: head, `:ok`, any replay,
    /// then live.
    ///
    /// With a backplane, the local logs answer when they can; otherwise the request waits
    /// for the read thread, which answers with `Command::Joined`.
    fn open_stream(
        &mut self,
        key: Key,
        req: Request,
        headers: Vec<(String, String)>,
        channels: Vec<Arc<str>>,
        access: Access,
        now: Instant,
    ) {
        let shared = self.shared.clone();
        let last_event_id = req.last_event_id();
        // The first replay may fill the stream's queue: a resume of one channel, whose log is
        // bounded alike, comes at once; more goes in batches as the socket drains.
        let budget = shared.config.max_queue_bytes;
        let resume = {
            let mut hub = shared.lock_hub();
            match &shared.backplane {
                None => Some(hub.resume(&channels, last_event_id.as_deref(), budget, now)),
                Some(_) => {
                    let resume = hub.resume_followed(&channels, last_event_id.as_deref(), budget, now);
                    if resume.is_some() {
                        hub.subscribe(&channels);
                    }
                    resume
                }
            }
        };
        if let Some(resume) = resume {
            return self.start_stream(key, &req, headers, channels, access, resume, now);
        }
        let backplane = shared.backplane.as_ref().expect("a backplane");
        let id = ConnId { worker: self.index, key };
        let Some(mut e) = self.endpoint(key) else { return };
        e.defer(DEFER_STREAM, now);
        let join = Join { to: JoinFor::Conn(id), channels, last_event_id, deadline: now + WAIT };
        if !backplane.join(join) {
            e.respond(&answer::refusal(&Unavailable::ShutDown), Framing::CLOSE, now);
        } else if let Some(live) = self.slots.get(key) {
            live.pending = Some(Box::new(PendingStream { req, headers, access }));
        }
    }

    /// A deferred stream's answer from the backplane's read thread.
    pub(super) fn joined(
        &mut self,
        key: Key,
        channels: Vec<Arc<str>>,
        resume: Result<Resume, super::handle::JoinError>,
        now: Instant,
    ) {
        let pending =
            if self.is_waiting(key) { self.slots.get(key).and_then(|l| l.pending.take()) } else { None };
        match (pending, resume) {
            (Some(p), Ok(resume)) => {
                let p = *p;
                self.start_stream(key, &p.req, p.headers, channels, p.access, resume, now);
                self.serve(key.slot, now); // reading was paused while it waited
            }
            (Some(p), Err(refusal)) => {
                self.shared.reject(Rejection::Unavailable);
                // An EventSource is told to come back (a 503 would end it for good).
                let spread =
                    super::drain::retry_hint(self.shared.next_client_id.fetch_add(1, Ordering::Relaxed));
                let response = answer::stream_refusal(&refusal, p.req.accepts_event_stream(), spread);
                if let Some(mut e) = self.endpoint(key) {
                    e.respond(&response, Framing::of(&p.req).closing(), now);
                }
                self.serve(key.slot, now);
            }
            // Gone, or answered 503 already: give back the subscription counted for it.
            (None, Ok(_)) => self.shared.lock_hub().unsubscribe(&channels, now),
            (None, Err(_)) => {}
        }
    }

    /// Starts the stream in slot `key`, with `resume` (replay and seam) decided; it ends when
    /// `access` does.
    #[allow(clippy::too_many_arguments)]
    fn start_stream(
        &mut self,
        key: Key,
        req: &Request,
        mut headers: Vec<(String, String)>,
        channels: Vec<Arc<str>>,
        access: Access,
        resume: Resume,
        now: Instant,
    ) {
        let shared = self.shared.clone();
        let mut first = self.first_frames.clone();
        first.extend(resume.gap);
        first.extend(resume.frames);
        headers.extend(shared.config.headers.iter().cloned());
        let Some(mut e) = self.endpoint(key) else { return };
        e.start_stream(req, &headers, &first, now);
        if let Some(end) = access.ends_at(since_epoch(), now) {
            e.end_stream_at(end);
        }
        if resume.then == Then::End {
            e.finish_stream(now);
        }
        if let Some(sock) = self.socket(key.slot) {
            // Unacknowledged data past this time fails the socket: a peer that vanished without
            // a FIN is found by the next keep-alive comment instead of after the kernel's ~15
            // minutes.
            let _ = socket2::SockRef::from(&sock.sock).set_tcp_user_timeout(Some(shared.config.send_timeout));
        }
        self.subs.join(key.slot, &channels);
        // Most streams take the default channel: they share one list instead of one each.
        let channels: Arc<[Arc<str>]> =
            if *channels == *self.default_channels { self.default_channels.clone() } else { channels.into() };
        let mut member = Member::new(channels, resume.seq);
        member.subject = access.subject;
        shared.presence.join(&member.channels, member.subject.as_ref());
        if resume.then == Then::More {
            let last_id = resume.last_id.or_else(|| req.last_event_id().map(Arc::from));
            member.replay = Some(Box::new(Replaying { last_id }));
        }
        let inner = Arc::new(ClientInner {
            id: shared.next_client_id.fetch_add(1, Ordering::Relaxed),
            conn: ConnId { worker: self.index, key },
            closed: AtomicBool::new(false),
            shared: shared.clone(),
        });
        let access = self.socket(key.slot).and_then(|sock| {
            #[cfg(feature = "tls")]
            let tls = sock.tls.is_some();
            #[cfg(not(feature = "tls"))]
            let tls = false;
            super::access::Opened::new(&mut sock.access, || sock.sock.peer_addr().ok(), req, tls, now)
        });
        let Some(live) = self.slots.get(key) else { return };
        live.member = Some(member);
        live.client = Some(inner.clone());
        live.access = access;
        shared.counters.streams.fetch_add(1, Ordering::Relaxed);
        shared.counters.workers[self.index].streams.fetch_add(1, Ordering::Relaxed);
        // The callback runs before the first write, so that a client that is already gone is
        // reported to `on_disconnect` after `on_connect`, never before.
        if let Some(on_connect) = &shared.callbacks.on_connect {
            let client = Client { inner };
            if catch(&shared, || on_connect(client, req)).is_none() {
                if let Some(mut e) = self.endpoint(key) {
                    e.abort(now);
                }
            }
        }
    }

    /// Whether the request in slot `key` waits for a deferred answer.
    pub(super) fn is_waiting(&mut self, key: Key) -> bool {
        self.endpoint(key).is_some_and(|e| e.is_waiting())
    }

    /// Queues the next replay batch on the streams of socket `i` whose replay goes on in
    /// batches, once their queues are written out; `true` if something was queued (so there
    /// is more to write).
    pub(super) fn refill(&mut self, i: usize, now: Instant) -> bool {
        let Some(sock) = self.slots.at(i).and_then(Live::socket) else { return false };
        if sock.streams.is_empty() {
            let Some(key) = self.slots.key_at(i) else { return false };
            return self.refill_stream(key, now);
        }
        let mut more = false;
        let mut at = 0;
        while let Some(key) =
            self.slots.at(i).and_then(Live::socket).and_then(|s| s.streams.get(at)).map(|c| c.key())
        {
            more |= self.refill_stream(key, now);
            at += 1;
        }
        more
    }

    /// [`Worker::refill`] for the stream in slot `key`.
    fn refill_stream(&mut self, key: Key, now: Instant) -> bool {
        let Some(member) = self.slots.get(key).and_then(|l| l.member.as_ref()) else { return false };
        let Some(replay) = member.replay.as_ref() else { return false };
        let (channels, last_seq, last_id) =
            (member.channels.clone(), member.last_seq, replay.last_id.clone());
        let room = self.endpoint(key).map_or(0, |e| e.replay_room()).min(REPLAY_BATCH);
        if room == 0 {
            return false;
        }
        let batch = self.shared.lock_hub().replay(
            &channels,
            last_seq,
            last_id.as_deref().unwrap_or_default(),
            room,
            now,
        );
        let Some(member) = self.slots.get(key).and_then(|l| l.member.as_mut()) else { return false };
        member.last_seq = batch.seq;
        if let Some(replay) = member.replay.as_mut() {
            if batch.last_id.is_some() {
                replay.last_id = batch.last_id;
            }
        }
        if batch.then == Then::Live {
            member.replay = None;
        }
        let more = !batch.frames.is_empty();
        if let Some(mut e) = self.endpoint(key) {
            e.push_replay(batch.frames, now);
        }
        more
    }
}

/// A stream request's channels and access, or why not and the answer.
type Checked = Result<(Vec<Arc<str>>, Access), (Rejection, Response)>;

/// The accept check, the channel choice and the policy for a stream request; a refusal comes
/// with its reason.
fn check_stream(shared: &Shared, req: &Request) -> Checked {
    let verify = |r| (Rejection::Verify, r);
    if let Some(check) = &shared.callbacks.verify {
        catch(shared, || check(req))
            .unwrap_or_else(|| Err(Response::error(500, "accept check failed")))
            .map_err(verify)?;
    }
    let channels = match &shared.callbacks.subscribe {
        Some(subscribe) => validate_channels(
            catch(shared, || subscribe(req))
                .unwrap_or_else(|| Err(Response::error(500, "channel choice failed")))
                .map_err(verify)?,
        ),
        None => requested_channels(req),
    };
    let channels = channels.map_err(|e| (Rejection::Channels, answer::refusal(&e)))?;
    let Some(policy) = &shared.callbacks.policy else { return Ok((channels, Access::default())) };
    match catch(shared, || policy.stream(req, &channels, since_epoch().as_secs())) {
        Some(Ok(access)) => Ok((channels, access)),
        Some(Err(refusal)) => {
            shared.stream_refused(&refusal);
            Err(verify(answer::refusal(&refusal)))
        }
        None => Err(verify(Response::error(500, "the authorization policy failed"))),
    }
}

/// The metrics, as an answer.
fn metrics_answer(shared: &Shared) -> Response {
    Response::new(200)
        .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        .body(super::metrics::render(shared))
}

/// Runs an application callback; a panic is counted and becomes `None`.
pub(super) fn catch<T>(shared: &Shared, f: impl FnOnce() -> T) -> Option<T> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(_) => {
            Shared::count(&shared.counters.callback_panics);
            None
        }
    }
}
