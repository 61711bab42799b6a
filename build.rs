//! Finds, at build time, the system programs that some integration tests drive, so that a test
//! that cannot run here is *ignored* with its reason in `cargo test`'s output instead of passing
//! without having run:
//!
//! * `cfg(has_redis_server)`: `redis-server --version` runs (tests/redis_backplane.rs starts its
//!   own Redis servers); the program found is passed on as `SSEHUB_REDIS_SERVER`.
//! * `cfg(has_nft)`: `nft list tables` runs, which takes root (`CAP_NET_ADMIN`)
//!   (tests/server_vanish.rs drops a client's packets); the program as `SSEHUB_NFT`.
//!
//! Tests mark themselves `#[cfg_attr(not(has_redis_server), ignore = "needs redis-server ...")]`.
//! `SSEHUB_REQUIRE_TOOLS=redis-server,nft` (CI sets it) makes a missing or unusable one a build
//! error, so CI cannot pass with those tests ignored.
//!
//! The library uses neither cfg. The probes are at most two short process runs, and are run
//! again only when `PATH`, `USER` (sudo changes it) or `SSEHUB_REQUIRE_TOOLS` change, when a
//! found program changes or goes, or when a program appears in a `PATH` directory while one is
//! missing. (Anything else, such as being granted `CAP_NET_ADMIN`: `touch build.rs`.)

use std::collections::BTreeSet;
use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A program the tests drive: its cfg, the environment variable that carries its path to the
/// tests, how to tell that it works here, and what to do when it does not.
struct Tool {
    name: &'static str,
    cfg: &'static str,
    env: &'static str,
    /// Where to look besides `PATH` (a non-root `PATH` often lacks the sbin directories).
    also: &'static [&'static str],
    probe: &'static [&'static str],
    install: &'static str,
}

const TOOLS: [Tool; 2] = [
    Tool {
        name: "redis-server",
        cfg: "has_redis_server",
        env: "SSEHUB_REDIS_SERVER",
        also: &[],
        probe: &["--version"],
        install: "apt-get install redis-server",
    },
    Tool {
        name: "nft",
        cfg: "has_nft",
        env: "SSEHUB_NFT",
        also: &["/usr/sbin", "/sbin"],
        probe: &["list", "tables"],
        install: "apt-get install nftables, and build and test as root",
    },
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for var in ["PATH", "USER", "SSEHUB_REQUIRE_TOOLS"] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let required = env::var("SSEHUB_REQUIRE_TOOLS").unwrap_or_default();
    let required: Vec<&str> = required.split([',', ' ']).filter(|s| !s.is_empty()).collect();
    for name in &required {
        if !TOOLS.iter().any(|t| t.name == *name) {
            let known: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
            println!(
                "cargo::error=SSEHUB_REQUIRE_TOOLS: unknown tool `{name}` (known: {})",
                known.join(", ")
            );
        }
    }
    let dirs = search_dirs();
    for tool in &TOOLS {
        println!("cargo::rustc-check-cfg=cfg({})", tool.cfg);
        let dirs: Vec<PathBuf> = dirs.iter().cloned().chain(tool.also.iter().map(PathBuf::from)).collect();
        match find(tool.name, &dirs) {
            Some(program) => {
                // Watched so that removing or replacing it makes a re-check.
                println!("cargo::rerun-if-changed={}", program.display());
                match probe(&program, tool.probe) {
                    Ok(()) => {
                        println!("cargo::rustc-cfg={}", tool.cfg);
                        println!("cargo::rustc-env={}={}", tool.env, program.display());
                    }
                    Err(why) if required.contains(&tool.name) => println!(
                        "cargo::error=SSEHUB_REQUIRE_TOOLS names {}, but `{} {}` fails here: {why} ({})",
                        tool.name,
                        program.display(),
                        tool.probe.join(" "),
                        tool.install
                    ),
                    Err(_) => {}
                }
            }
            None => {
                // A directory's modification time changes when a program is installed in it.
                let mut watched = BTreeSet::new();
                for dir in dirs.iter().filter(|d| d.is_dir()) {
                    if watched.insert(dir) {
                        println!("cargo::rerun-if-changed={}", dir.display());
                    }
                }
                if required.contains(&tool.name) {
                    println!(
                        "cargo::error=SSEHUB_REQUIRE_TOOLS names {}, which is not on PATH ({})",
                        tool.name, tool.install
                    );
                }
            }
        }
    }
}

/// `PATH`'s absolute directories (a relative one would name a different place for each build).
fn search_dirs() -> Vec<PathBuf> {
    env::var_os("PATH")
        .map(|p| env::split_paths(&p).filter(|d| d.is_absolute()).collect())
        .unwrap_or_default()
}

fn find(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Runs `program args`; `Err` says why it did not succeed.
fn probe(program: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
    let euid = effective_uid().map_or(String::new(), |u| format!(", euid {u}"));
    Err(format!("{}{euid}: {first}", out.status))
}

/// This process's effective user id, from /proc (Linux); `None` elsewhere.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}
