//! The health probes: `GET /healthz` (liveness) and `GET /readyz` (readiness), for an
//! orchestrator (Kubernetes, systemd, a load balancer) to ask whether the node is well.
//!
//! ```text
//! request on the probe path ─► probe_for ─► Probe::Health ─► liveness(beats, now) ─► 200 | 503
//!   (public port or the metrics              Probe::Ready  ─► readiness(draining,  ─► 200 | 503
//!    listener; GET or HEAD)                                    backplane up)
//! ```
//!
//! * **Liveness** is `200` while every worker's event loop comes round: each worker stamps a
//!   heartbeat (a relaxed atomic, milliseconds since the server started) every time its loop
//!   turns, and its poll never sleeps longer than [`HEARTBEAT`]. A worker whose stamp is older
//!   than [`Config::stall_timeout`](super::Config::stall_timeout) is stuck, one whose loop has
//!   ended is stopped: either makes the answer `503`. (A worker that cannot answer at all is
//!   seen by the probe's own timeout.)
//! * **Readiness** is `503` while the node drains ([`ShutdownHandle::drain`]) or its Redis
//!   backplane is unreachable (the read connection is down), else `200`. Draining is said first:
//!   it does not end when Redis comes back.
//!
//! The answers are short JSON bodies (`Cache-Control: no-store`):
//!
//! | probe    | status | body                                                  |
//! |----------|--------|-------------------------------------------------------|
//! | healthz  | 200    | `{"status":"ok","workers":4}`                         |
//! | healthz  | 503    | `{"status":"stuck","worker":1,"silent_ms":12000}`     |
//! | healthz  | 503    | `{"status":"stopped","worker":1}`                     |
//! | readyz   | 200    | `{"status":"ready"}`                                  |
//! | readyz   | 503    | `{"status":"draining"}`, `{"status":"backplane_down"}` |
//!
//! Nothing here touches a stream, the hub or its lock: the server gathers a few atomics and
//! these pure functions decide.
//!
//! [`ShutdownHandle::drain`]: super::ShutdownHandle::drain

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::http::response::Response;

/// The longest a worker's poll sleeps, so that an idle worker still stamps its heartbeat.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);

/// Which probe a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Liveness (`/healthz`).
    Health,
    /// Readiness (`/readyz`).
    Ready,
}

/// The probe at `path`, if it is one of the configured probe paths (exactly: the query is not
/// part of `path`).
pub(crate) fn probe_for(path: &str, healthz: Option<&str>, readyz: Option<&str>) -> Option<Probe> {
    if healthz == Some(path) {
        Some(Probe::Health)
    } else if readyz == Some(path) {
        Some(Probe::Ready)
    } else {
        None
    }
}

/// One worker's heartbeat, as read by a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Beat {
    /// Its event loop has not ended.
    pub(crate) running: bool,
    /// When its loop last came round, in milliseconds since the server started.
    pub(crate) at_ms: u64,
}

/// What the liveness probe says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// Every worker's loop runs.
    Live {
        /// How many workers.
        workers: usize,
    },
    /// Worker `worker`'s loop has ended (its poll failed).
    Stopped {
        /// Which worker.
        worker: usize,
    },
    /// Worker `worker`'s loop has not come round for `silent` (stuck in a call, or starved).
    Stuck {
        /// Which worker.
        worker: usize,
        /// Since its last heartbeat.
        silent: Duration,
    },
}

/// Liveness from the workers' heartbeats at `now_ms` (the same clock as [`Beat::at_ms`]): the
/// first worker stopped, else the first one silent for longer than `stall`, else live. A beat
/// stamped after `now_ms` (read in another order) is not silent.
pub(crate) fn liveness(beats: &[Beat], now_ms: u64, stall: Duration) -> Liveness {
    if let Some(worker) = beats.iter().position(|b| !b.running) {
        return Liveness::Stopped { worker };
    }
    let stall_ms = u64::try_from(stall.as_millis()).unwrap_or(u64::MAX);
    for (worker, beat) in beats.iter().enumerate() {
        let silent_ms = now_ms.saturating_sub(beat.at_ms);
        if silent_ms > stall_ms {
            return Liveness::Stuck { worker, silent: Duration::from_millis(silent_ms) };
        }
    }
    Liveness::Live { workers: beats.len() }
}

/// What the readiness probe says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// Take traffic.
    Ready,
    /// The node is draining: send no new clients.
    Draining,
    /// The Redis backplane is unreachable: streams here would miss other nodes' events.
    BackplaneDown,
}

/// Readiness from whether the node drains and whether its backplane (`None`: it has none) is
/// connected.
pub(crate) fn readiness(draining: bool, backplane_up: Option<bool>) -> Readiness {
    if draining {
        Readiness::Draining
    } else if backplane_up == Some(false) {
        Readiness::BackplaneDown
    } else {
        Readiness::Ready
    }
}

/// The liveness answer.
pub(crate) fn health_answer(liveness: Liveness) -> Response {
    match liveness {
        Liveness::Live { workers } => json(200, &format!("{{\"status\":\"ok\",\"workers\":{workers}}}")),
        Liveness::Stopped { worker } => json(503, &format!("{{\"status\":\"stopped\",\"worker\":{worker}}}")),
        Liveness::Stuck { worker, silent } => json(
            503,
            &format!("{{\"status\":\"stuck\",\"worker\":{worker},\"silent_ms\":{}}}", silent.as_millis()),
        ),
    }
}

/// The readiness answer.
pub(crate) fn ready_answer(readiness: Readiness) -> Response {
    match readiness {
        Readiness::Ready => json(200, "{\"status\":\"ready\"}"),
        Readiness::Draining => json(503, "{\"status\":\"draining\"}"),
        Readiness::BackplaneDown => json(503, "{\"status\":\"backplane_down\"}"),
    }
}

/// What the server gathers for a probe: a few atomics, never a stream or the hub.
impl super::Shared {
    /// The answer to `probe`, now.
    pub(crate) fn probe(&self, probe: Probe) -> Response {
        match probe {
            Probe::Health => {
                let beats: Vec<Beat> = self
                    .counters
                    .workers
                    .iter()
                    .map(|w| Beat {
                        running: w.running.load(Ordering::Relaxed),
                        at_ms: w.beat.load(Ordering::Relaxed),
                    })
                    .collect();
                let now_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                health_answer(liveness(&beats, now_ms, self.config.stall_timeout))
            }
            Probe::Ready => {
                let up = self.backplane.as_ref().map(|b| b.figures().0);
                ready_answer(readiness(self.draining.load(Ordering::Acquire), up))
            }
        }
    }
}

fn json(status: u16, body: &str) -> Response {
    Response::new(status)
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-store")
        .body(body.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STALL: Duration = Duration::from_secs(10);

    fn beat(at_ms: u64) -> Beat {
        Beat { running: true, at_ms }
    }

    #[test]
    fn the_probe_paths_are_matched_exactly_and_either_may_be_off() {
        let (h, r) = (Some("/healthz"), Some("/readyz"));
        assert_eq!(probe_for("/healthz", h, r), Some(Probe::Health));
        assert_eq!(probe_for("/readyz", h, r), Some(Probe::Ready));
        assert_eq!(probe_for("/healthz/", h, r), None);
        assert_eq!(probe_for("/sse", h, r), None);
        assert_eq!(probe_for("/healthz", None, r), None);
        assert_eq!(probe_for("/live", Some("/live"), None), Some(Probe::Health));
    }

    #[test]
    fn live_while_every_worker_beats_within_the_stall_timeout() {
        let now = 100_000;
        assert_eq!(liveness(&[beat(now), beat(now - 10_000)], now, STALL), Liveness::Live { workers: 2 });
        // A beat read after `now` was taken is no silence.
        assert_eq!(liveness(&[beat(now + 5)], now, STALL), Liveness::Live { workers: 1 });
        assert_eq!(liveness(&[], now, STALL), Liveness::Live { workers: 0 });
    }

    #[test]
    fn a_silent_worker_is_stuck_and_a_stopped_one_is_said_first() {
        let now = 100_000;
        assert_eq!(
            liveness(&[beat(now), beat(now - 10_001)], now, STALL),
            Liveness::Stuck { worker: 1, silent: Duration::from_millis(10_001) }
        );
        let stopped = Beat { running: false, at_ms: now };
        assert_eq!(liveness(&[beat(0), stopped], now, STALL), Liveness::Stopped { worker: 1 });
    }

    #[test]
    fn ready_unless_draining_or_the_backplane_is_down() {
        assert_eq!(readiness(false, None), Readiness::Ready);
        assert_eq!(readiness(false, Some(true)), Readiness::Ready);
        assert_eq!(readiness(false, Some(false)), Readiness::BackplaneDown);
        assert_eq!(readiness(true, Some(true)), Readiness::Draining);
        assert_eq!(readiness(true, Some(false)), Readiness::Draining, "draining outlasts Redis");
        assert_eq!(readiness(true, None), Readiness::Draining);
    }

    #[test]
    fn the_answers_are_short_json_and_never_cached() {
        let ok = health_answer(Liveness::Live { workers: 4 });
        assert_eq!((ok.status, ok.body.as_slice()), (200, &b"{\"status\":\"ok\",\"workers\":4}"[..]));
        assert!(ok.headers.contains(&("Cache-Control".into(), "no-store".into())));
        assert!(ok.headers.contains(&("Content-Type".into(), "application/json".into())));
        let stuck = health_answer(Liveness::Stuck { worker: 1, silent: Duration::from_millis(12_000) });
        assert_eq!(stuck.status, 503);
        assert_eq!(stuck.body, b"{\"status\":\"stuck\",\"worker\":1,\"silent_ms\":12000}");
        assert_eq!(
            health_answer(Liveness::Stopped { worker: 0 }).body,
            b"{\"status\":\"stopped\",\"worker\":0}"
        );
        assert_eq!(ready_answer(Readiness::Ready).status, 200);
        let draining = ready_answer(Readiness::Draining);
        assert_eq!((draining.status, draining.body.as_slice()), (503, &b"{\"status\":\"draining\"}"[..]));
        assert_eq!(ready_answer(Readiness::BackplaneDown).body, b"{\"status\":\"backplane_down\"}");
    }
}
