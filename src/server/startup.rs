//! What the server says when it starts: where it listens and what is on, as `log` records at
//! `info` on the target `ssehub::server` (key-values for structured loggers, a sentence for
//! people). Nothing secret: the publish token and JWT keys are only said to be set, a Redis
//! URL is shown with its password masked.

use std::net::SocketAddr;

use super::Shared;

/// The `log` target of the start-up records.
pub(crate) const TARGET: &str = "ssehub::server";

/// Logs the listeners and the features of a server that has just started.
pub(crate) fn log(shared: &Shared, addrs: &[SocketAddr], metrics_addr: Option<SocketAddr>) {
    if !log::log_enabled!(target: TARGET, log::Level::Info) {
        return;
    }
    let config = &shared.config;
    #[cfg(feature = "tls")]
    let tls = shared.tls.is_some();
    #[cfg(not(feature = "tls"))]
    let tls = false;
    let scheme = if tls { "https" } else { "http" };
    let stream_path = config.route.pattern.to_string();
    for addr in addrs {
        log::info!(
            target: TARGET,
            addr:% = addr,
            tls = tls,
            http2 = config.http2,
            stream_path = stream_path.as_str(),
            workers = config.workers.max(1) as u64,
            max_connections = shared.max_connections as u64;
            "listening on {scheme}://{addr} (TLS {}, HTTP/2 {}), streams at {stream_path}, {} workers, a limit of {} connections",
            on(tls),
            on(config.http2),
            config.workers.max(1),
            shared.max_connections,
        );
    }
    if addrs.is_empty() {
        log::info!(
            target: TARGET,
            stream_path = stream_path.as_str();
            "no listener: connections come by Server::adopt, streams at {stream_path}"
        );
    }
    let addr = addrs.first().copied().unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    match (metrics_addr, &shared.metrics_path) {
        (Some(at), Some(path)) => {
            log::info!(target: TARGET, metrics_addr:% = at, metrics_path = path.as_str(); "metrics on http://{at}{path}")
        }
        (None, Some(path)) => log::info!(
            target: TARGET,
            metrics_addr:% = addr,
            metrics_path = path.as_str();
            "metrics on {scheme}://{addr}{path}"
        ),
        _ => log::info!(target: TARGET, metrics = false; "metrics off"),
    }
    let route = &config.route;
    let publish = route.publish.as_deref();
    let jwt = shared.callbacks.policy.is_some();
    let presence = route.presence.as_deref();
    log::info!(
        target: TARGET,
        publish_path = publish.unwrap_or(""),
        publish_token = config.publish_token.is_some(),
        jwt = jwt,
        presence_path = presence.unwrap_or(""),
        presence_events = config.presence_events,
        cors = route.cors.is_some();
        "features: publish endpoint {}, JWT authorization {}, presence {}{}, CORS {}",
        match (publish, config.publish_token.is_some()) {
            (Some(path), true) => format!("at {path} (token)"),
            (Some(path), false) => format!("at {path} (JWT publish claims)"),
            (None, _) => "off".to_owned(),
        },
        on(jwt),
        presence.map_or("off".to_owned(), |p| format!("at {p}")),
        if presence.is_some() && config.presence_events { " (join/leave events)" } else { "" },
        on(route.cors.is_some()),
    );
    match &config.redis {
        #[cfg(feature = "redis")]
        Some(redis) => {
            let url = crate::redact::redact_url(&redis.url);
            log::info!(
                target: TARGET,
                redis:% = url,
                redis_namespace = redis.namespace.as_str();
                "Redis backplane at {url} (namespace {:?})",
                redis.namespace
            );
        }
        _ => log::info!(target: TARGET, redis = false; "Redis backplane off (this node alone)"),
    }
}

fn on(yes: bool) -> &'static str {
    if yes { "on" } else { "off" }
}
