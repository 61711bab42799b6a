//! The `ssehub` binary with a config file, as a user runs it: `config example` writes a file that
//! `config check` accepts and that reads back as the defaults; `config check` shows where each
//! setting came from and hides secrets, and refuses a bad file in one line with exit status 2;
//! `serve --config FILE` listens where the file says and serves what it says, under the
//! `SSEHUB_*` environment and the command line.

mod net;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use net::{Conn, Stream, TIMEOUT};

/// A temporary directory of this test's own.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("ssehub-config-file-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `ssehub ARGS` with the environment `vars` (and no other SSEHUB_* variable), run to its end.
fn ssehub(args: &[&str], vars: &[(&str, &str)]) -> Output {
    command(args, vars).output().unwrap()
}

fn command(args: &[&str], vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssehub"));
    cmd.args(args);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SSEHUB_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(vars.iter().copied());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn config_example_is_a_file_that_config_check_reads_as_the_defaults() {
    let dir = Dir::new("example");
    let out = ssehub(&["config", "example"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let example = text(&out.stdout);
    assert!(example.contains("\naddr = \"127.0.0.1:8080\"\n"), "{example}");
    assert!(example.contains("\n# publish-token = \"TOKEN\"\n"), "{example}");
    let path = dir.file("example.toml", &example);
    let out = ssehub(&["config", "check", path.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let effective = text(&out.stdout);
    let shown = path.display().to_string();
    assert!(effective.contains(&format!("\naddr = \"127.0.0.1:8080\"  # {shown}:")), "{effective}");
    assert!(effective.contains(&format!("\nkeep-alive = \"15s\"  # {shown}:")), "{effective}");
    assert!(effective.contains("\n# rate is not set\n"), "{effective}");
}

#[test]
fn config_check_shows_the_environment_and_hides_secrets() {
    let dir = Dir::new("check");
    let path = dir.file(
        "node.toml",
        "# a node\naddr = \":9000\"\npublish-token = \"s3cret-token\"\nredis = \"redis://:pa55@10.0.0.9:6379\"\n",
    );
    let out = ssehub(&["config", "check", path.to_str().unwrap()], &[("SSEHUB_MAX_CONNECTIONS", "100")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let effective = text(&out.stdout);
    let shown = path.display().to_string();
    assert!(effective.contains(&format!("\naddr = \":9000\"  # {shown}:2\n")), "{effective}");
    assert!(effective.contains(&format!("\npublish-token = \"***\"  # {shown}:3\n")), "{effective}");
    assert!(effective.contains("\nredis = \"redis://:***@10.0.0.9:6379\""), "{effective}");
    assert!(effective.contains("\nmax-connections = 100  # SSEHUB_MAX_CONNECTIONS\n"), "{effective}");
    assert!(!effective.contains("s3cret") && !effective.contains("pa55"), "{effective}");
}

#[test]
fn config_check_reads_the_files_serve_would_read() {
    let dir = Dir::new("files");
    let missing = dir.0.join("missing.pem").display().to_string();
    for (text_of_file, says) in [
        (format!("tls-cert = \"{missing}\"\ntls-key = \"{missing}\"\n"), "--tls-cert"),
        (format!("publish-token-file = \"{missing}\"\n"), "--publish-token-file"),
        (format!("jwt-key = \"{missing}\"\njwt-alg = \"RS256\"\n"), "--jwt-key"),
        ("redis = \"redis://127.0.0.1:1\"\nredis-namespace = \"{a}\"\n".to_owned(), "--redis-namespace"),
    ] {
        let path = dir.file("node.toml", &text_of_file);
        let shown = path.display().to_string();
        let out = ssehub(&["config", "check", &shown], &[]);
        let err = text(&out.stderr);
        // As `serve` itself would stop: status 1, one line, here naming the file checked.
        assert_eq!(out.status.code(), Some(1), "{text_of_file}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with(&format!("ssehub: {shown}: ")) && err.contains(says), "{err}");
        assert!(out.stdout.is_empty(), "no configuration printed for a file serve would refuse");
    }
}

/// `ssehub ARGS` fails with status 2 and one line on stderr, which it returns.
fn refused(args: &[&str], vars: &[(&str, &str)]) -> String {
    let out = ssehub(args, vars);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(out.stdout.is_empty(), "{args:?}");
    err.trim_end().to_owned()
}

#[test]
fn a_bad_file_is_refused_in_one_line_naming_the_key_and_line() {
    let dir = Dir::new("bad");
    let cases = [
        ("unknown.toml", "addr = \":1\"\nmax_connections = 5\n", ":2: max_connections: unknown key"),
        ("type.toml", "no-http2 = \"yes\"\n", ":1: no-http2: expected true or false, found a string"),
        (
            "value.toml",
            "\n\nmax-queue-bytes = \"1XB\"\n",
            ":3: max-queue-bytes: invalid value \"1XB\": unknown unit",
        ),
        ("syntax.toml", "addr = \":1\"\npath = /sse\n", ":2: not valid TOML: "),
    ];
    for (name, body, want) in cases {
        let path = dir.file(name, body);
        let shown = path.display().to_string();
        for args in [["config", "check", &shown].as_slice(), &["serve", "--config", &shown]] {
            let err = refused(args, &[]);
            assert!(err.starts_with(&format!("ssehub: {shown}{want}")), "{args:?}: {err}");
        }
    }
    let missing = dir.0.join("missing.toml");
    let shown = missing.display().to_string();
    let err = refused(&["serve"], &[("SSEHUB_CONFIG", &shown)]);
    assert!(err.starts_with(&format!("ssehub: {shown}: cannot read the config file: ")), "{err}");
    let err = refused(&["serve", "--addr", "127.0.0.1:0"], &[("SSEHUB_REPLAY_AGE", "NaN")]);
    assert!(err.starts_with("ssehub: SSEHUB_REPLAY_AGE: invalid value \"NaN\""), "{err}");
}

/// A port free on 127.0.0.1 a moment ago (the file must name one, so the OS cannot pick it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Stops the server at the end of the test, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status_of(addr: SocketAddr, path: &str) -> u16 {
    let mut conn = Conn::connect(addr);
    conn.send(&net::get(path, ""));
    conn.read_head().status
}

#[test]
fn serve_listens_and_serves_as_the_file_says_under_environment_and_flags() {
    let dir = Dir::new("serve");
    let port = free_port();
    let path = dir.file(
        "node.toml",
        &format!(
            "addr = \"127.0.0.1:{port}\"\npath = \"/from-file\"\nmetrics-path = \"/file-metrics\"\n\
             retry = \"2s\"\nno-http2 = true\n"
        ),
    );
    let child = command(
        &["serve", "--config", path.to_str().unwrap(), "--path", "/from-flag"],
        &[("SSEHUB_METRICS_PATH", "/env-metrics")],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let _server = Server(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    assert!(
        net::wait_until(TIMEOUT * 2, || TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .is_ok()),
        "nothing listens on {addr}, the file's address"
    );
    // The flag beats the file; the environment beats the file.
    assert_eq!(status_of(addr, "/from-file"), 404);
    assert_eq!(status_of(addr, "/file-metrics"), 404);
    let mut conn = Conn::connect(addr);
    conn.send(&net::get("/env-metrics", ""));
    let (head, body) = conn.read_response();
    assert_eq!(head.status, 200);
    assert!(text(&body).contains("# TYPE"), "{}", text(&body));
    // The stream, with the file's retry hint.
    let mut stream = Stream::open(addr, "/from-flag", "");
    stream.read_for(Duration::from_millis(300));
    assert!(text(&stream.body).contains("\nretry: 2000\n"), "{:?}", text(&stream.body));
    // HTTP/1.1 only, as the file says: the HTTP/2 preface gets 505.
    let mut conn = Conn::connect(addr);
    conn.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_eq!(conn.read_head().status, 505);
}

#[test]
fn config_help_names_the_order_of_precedence() {
    let out = ssehub(&["serve", "--help"], &[]);
    let help = text(&out.stdout);
    assert!(
        help.contains("--config <FILE>") && help.contains("file < the environment < the command line"),
        "{help}"
    );
}
