//! What a worker does with each request: the routing decision ([`route`]) carried out.
//!
//! ```text
//! Conn::poll_request ─► Request ─► route ─┬─ Fallback ──► the application's handler ─► respond
//!                                         ├─ Metrics ───► the server's counters ─────► respond
//!                                         ├─ Publish ───► hub::publish::check ─► Hub (or Redis, deferred)
//!                                         ├─ Respond ───► the refusal route chose ───► respond
//!                                         └─ Stream ────► verify, channels, policy, Hub::resume ─► start_stream
//!                                                         (or, with a backplane, deferred: Join)
//! ```
//!
//! The decisions are the pure modules' ([`crate::http`], [`crate::hub`]); this file calls the
//! application's callbacks (catching their panics) and hands the answers to the connection.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::handle::{ClientInner, Join, Unavailable, WAIT};
use super::slots::{ConnId, Key};
use super::worker::{Live, PendingStream, Worker};
use super::{Client, Rejection, Shared, since_epoch};
use crate::auth::Access;
use crate::http::request::{Request, Version};
use crate::http::response::write_stream_head;
use crate::http::route::{Decision, route};
use crate::http::{Framing, Response, answer};
use crate::hub::fanout::{Member, Replaying};
use crate::hub::{Resume, Then, publish, requested_channels, validate_channels};
use crate::proto::Input;

/// Most replay bytes taken from the hub at once (under its lock) once a stream's first replay
/// is written, per stream.
pub(crate) const REPLAY_BATCH: usize = 64 * 1024;

impl Worker {
    /// Answers the complete requests connection `i` has received; `true` if it took any.
    pub(super) fn take_requests(&mut self, i: usize, now: Instant) -> bool {
        let mut took = false;
        loop {
            let Some(live) = self.slots.at(i) else { return took };
            match live.conn.poll_request(&self.shared.config.limits, now) {
                Input::NeedMore => return took,
                Input::Refused(_) => {
                    self.shared.reject(Rejection::Malformed);
                    return true;
                }
                Input::Request(request) => self.handle_request(i, request, now),
                Input::Expect(request) => self.handle_expect(i, &request, now),
            }
            took = true;
        }
    }

    /// Answers `Expect: 100-continue`: the body may come unless the request is refused already
    /// (a wrong publish token, a body for the stream path...), which is answered at once.
    fn handle_expect(&mut self, i: usize, req: &Request, now: Instant) {
        let shared = self.shared.clone();
        let config = &shared.config;
        if self.slots.at(i).is_some_and(|l| l.admin) {
            // The metrics listener takes no bodies it would read: answered as any other request.
            if let Some(live) = self.slots.at(i) {
                live.conn.continue_body(now);
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
        let Some(live) = self.slots.at(i) else { return };
        match refusal {
            None => live.conn.continue_body(now),
            Some((why, response)) => {
                shared.reject(why);
                live.conn.respond(&response, Framing::of(req).closing(), now);
            }
        }
    }

    fn handle_request(&mut self, i: usize, req: Request, now: Instant) {
        let shared = self.shared.clone();
        let config = &shared.config;
        let framing = Framing::of(&req);
        let Some(key) = self.slots.key_at(i) else { return };
        let Some(live) = self.slots.get(key) else { return };
        if live.admin {
            // The metrics listener: the metrics at their path, nothing else (not even the
            // application's fallback: this port is for operators).
            let metrics = shared.metrics_path.as_deref() == Some(req.path.as_str())
                && matches!(req.method.as_str(), "GET" | "HEAD");
            let response = if metrics { metrics_answer(&shared) } else { Response::not_found() };
            live.conn.respond(&response, framing, now);
            return;
        }
        match route(&req, &config.route) {
            Decision::Fallback => {
                let response = match &shared.callbacks.fallback {
                    Some(f) => {
                        catch(&shared, || f(&req)).unwrap_or_else(|| Response::error(500, "handler failed"))
                    }
                    None => Response::not_found(),
                };
                live.conn.respond(&response, framing, now);
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
                                live.conn.defer(WAIT, now);
                                let id = ConnId { worker: self.index, key };
                                if backplane.publish_http(id, p.target, p.event, framing) {
                                    return;
                                }
                                answer::refusal(&Unavailable::ShutDown)
                            }
                        },
                        None => match shared.publish(&p.target, p.event) {
                            Ok(published) => match &published.id {
                                Some(id) => answer::published(id),
                                None => answer::published(&published.seq.to_string()),
                            },
                            Err(e) => answer::refusal(&e),
                        },
                    },
                };
                live.conn.respond(&response, framing, now);
            }
            Decision::Metrics => live.conn.respond(&metrics_answer(&shared), framing, now),
            Decision::Presence { channel } => {
                live.conn.respond(&super::presence::answer(&shared, &req, channel.as_deref()), framing, now)
            }
            Decision::Respond { response, close } => {
                shared.reject(Rejection::Route);
                let framing = if close { framing.closing() } else { framing };
                live.conn.respond(&response, framing, now);
            }
            Decision::Stream { headers } => match check_stream(&shared, &req) {
                Ok((channels, access)) => self.open_stream(key, req, headers, channels, access, now),
                Err((why, mut response)) => {
                    shared.reject(why);
                    // The CORS headers too: a cross-origin client may read why (401, 403...).
                    response.headers.extend(headers);
                    live.conn.respond(&response, framing, now);
                }
            },
        }
    }

    /// Turns connection `key` into a stream on `channels`: head, `:ok`, any replay, then live.
    ///
    /// With a backplane, the local logs answer when they can; otherwise the connection waits
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
        let Some(live) = self.slots.get(key) else { return };
        let backplane = shared.backplane.as_ref().expect("a backplane");
        live.conn.defer(WAIT, now);
        let id = ConnId { worker: self.index, key };
        let join = Join { id, channels, last_event_id, deadline: now + WAIT };
        if !backplane.join(join) {
            live.conn.respond(&answer::refusal(&Unavailable::ShutDown), Framing::CLOSE, now);
        } else {
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
        let pending = self.waiting(key).and_then(|live| live.pending.take());
        match (pending, resume) {
            (Some(p), Ok(resume)) => {
                let p = *p;
                self.start_stream(key, &p.req, p.headers, channels, p.access, resume, now);
                self.serve(key.slot, now); // reading was paused while it waited
            }
            (Some(p), Err(refusal)) => {
                self.shared.reject(Rejection::Unavailable);
                let live = self.slots.get(key).expect("waiting");
                live.conn.respond(&answer::refusal(&refusal), Framing::of(&p.req).closing(), now);
                self.serve(key.slot, now);
            }
            // Gone, or answered 503 already: give back the subscription counted for it.
            (None, Ok(_)) => self.shared.lock_hub().unsubscribe(&channels, now),
            (None, Err(_)) => {}
        }
    }

    /// Starts the stream on connection `key`, with `resume` (replay and seam) decided; it ends
    /// when `access` does.
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
        let Some(live) = self.slots.get(key) else { return };
        let mut first = self.first_frames.clone();
        first.extend(resume.gap);
        first.extend(resume.frames);
        let chunked = req.version == Version::Http11;
        headers.extend(shared.config.headers.iter().cloned());
        let mut head = Vec::with_capacity(256);
        write_stream_head(&mut head, chunked, req.keep_alive(), &headers);
        live.conn.start_stream(head, chunked, &first, now);
        if let Some(end) = access.ends_at(since_epoch(), now) {
            live.conn.end_stream_at(end);
        }
        // Unacknowledged data past this time fails the socket: a peer that vanished without a
        // FIN is found by the next keep-alive comment instead of after the kernel's ~15 minutes.
        let _ = socket2::SockRef::from(&live.sock).set_tcp_user_timeout(Some(shared.config.send_timeout));
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
        live.member = Some(member);
        if resume.then == Then::End {
            live.conn.finish_stream(now);
        }
        let inner = Arc::new(ClientInner {
            id: shared.next_client_id.fetch_add(1, Ordering::Relaxed),
            conn: ConnId { worker: self.index, key },
            closed: AtomicBool::new(false),
            shared: shared.clone(),
        });
        live.client = Some(inner.clone());
        shared.counters.streams.fetch_add(1, Ordering::Relaxed);
        shared.counters.workers[self.index].streams.fetch_add(1, Ordering::Relaxed);
        // The callback runs before the first write, so that a client that is already gone is
        // reported to `on_disconnect` after `on_connect`, never before.
        if let Some(on_connect) = &shared.callbacks.on_connect {
            let client = Client { inner };
            if catch(&shared, || on_connect(client, req)).is_none() {
                if let Some(live) = self.slots.get(key) {
                    live.conn.abort();
                }
            }
        }
    }
}

/// Queues the next replay batch on a stream whose replay goes on in batches, once its queue is
/// written out; `true` if something was queued (so there is more to write).
pub(super) fn refill(live: &mut Live, shared: &Shared, now: Instant) -> bool {
    let Some(member) = live.member.as_mut() else { return false };
    let Some(replay) = member.replay.as_mut() else { return false };
    let room = live.conn.replay_room().min(REPLAY_BATCH);
    if room == 0 {
        return false;
    }
    let last_id = replay.last_id.as_deref().unwrap_or_default();
    let batch = shared.lock_hub().replay(&member.channels, member.last_seq, last_id, room, now);
    member.last_seq = batch.seq;
    if batch.last_id.is_some() {
        replay.last_id = batch.last_id;
    }
    if batch.then == Then::Live {
        member.replay = None;
    }
    let more = !batch.frames.is_empty();
    live.conn.push_replay(batch.frames, now);
    more
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
            Shared::count(&shared.counters.streams_refused[refusal.kind() as usize]);
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
