//! `cfg(has_redis_server)` when `redis-server --version` runs here, as the root crate's build.rs
//! finds it (see there): the tests that start a Redis of their own are *ignored*, with their
//! reason, where it is missing, and `SSEHUB_REQUIRE_TOOLS=redis-server` (CI) makes a missing one
//! a build error instead. The program found is passed on as `SSEHUB_REDIS_SERVER`.

use std::env;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=SSEHUB_REQUIRE_TOOLS");
    println!("cargo::rustc-check-cfg=cfg(has_redis_server)");
    let required = env::var("SSEHUB_REQUIRE_TOOLS").unwrap_or_default();
    let required = required.split([',', ' ']).any(|t| t == "redis-server");
    let found = env::var_os("PATH").and_then(|path| {
        env::split_paths(&path)
            .filter(|d| d.is_absolute())
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
    });
    let works = found.as_ref().filter(|p| {
        Command::new(p).arg("--version").stdin(Stdio::null()).output().is_ok_and(|o| o.status.success())
    });
    match works {
        Some(program) => {
            println!("cargo::rerun-if-changed={}", program.display());
            println!("cargo::rustc-cfg=has_redis_server");
            println!("cargo::rustc-env=SSEHUB_REDIS_SERVER={}", program.display());
        }
        None if required => println!(
            "cargo::error=SSEHUB_REQUIRE_TOOLS names redis-server, which does not run here (apt-get install redis-server)"
        ),
        None => {}
    }
}
