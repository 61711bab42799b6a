//! The backplane in a build without the `redis` feature: there is none. `Config::redis` set
//! anyway makes [`ServerBuilder::bind`](super::ServerBuilder::bind) fail with a clear message.

use std::time::Duration;

use super::handle::{Join, PublishError, Receipt};
use super::slots::ConnId;
use super::{Fanout, RedisConfig, ServerError};
use crate::event::Event;
use crate::http::Framing;
use crate::hub::idempotency::IdempotencyKey;
use crate::hub::{Published, Target};

/// Never constructed.
pub(crate) enum Backplane {}

impl Backplane {
    pub(crate) fn connect(_: &RedisConfig, _: usize, _: Duration) -> Result<Backplane, ServerError> {
        Err(ServerError::NoBackplaneSupport)
    }
    pub(crate) fn start(&self, _: Fanout) -> std::io::Result<()> {
        match *self {}
    }
    pub(crate) fn stop(&self) {
        match *self {}
    }
    pub(crate) fn wait(&self) {
        match *self {}
    }
    pub(crate) fn publish_http(
        &self,
        _: ConnId,
        _: Target,
        _: Event,
        _: Option<IdempotencyKey>,
        _: Framing,
    ) -> bool {
        match *self {}
    }
    pub(crate) fn publish_wait_keyed(
        &self,
        _: Target,
        _: Event,
        _: Option<IdempotencyKey>,
    ) -> Result<Receipt, PublishError> {
        match *self {}
    }
    pub(crate) fn publish_wait(&self, _: Target, _: Event) -> Result<Published, PublishError> {
        match *self {}
    }
    pub(crate) fn publish_wait_many(&self, _: Vec<(Target, Event)>) -> Vec<Result<Receipt, PublishError>> {
        match *self {}
    }
    pub(crate) fn join(&self, _: Join) -> bool {
        match *self {}
    }
    pub(crate) fn figures(&self) -> (bool, u64, u64) {
        match *self {}
    }
}
