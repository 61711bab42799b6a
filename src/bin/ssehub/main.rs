//! The `ssehub` command: `serve` (the event-stream server), `decode` (event stream → JSON lines).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;
mod decode;
mod logger;
mod serve;

#[derive(Parser)]
#[command(name = "ssehub", version, about = "A Server-Sent Events server and toolkit")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at start-up; boxing buys nothing
enum Command {
    /// Serve event streams (the demo clock at /sse, a page at /), or benchmark data with --rate.
    Serve(serve::Args),
    /// Load an SSE server: hold N event streams open, measure events/s, latency and fairness.
    Bench(bench::Args),
    /// Decode an event stream (FILE or standard input) into one JSON object per line.
    Decode {
        /// The stream to read; standard input when absent or `-`.
        file: Option<PathBuf>,
        /// The longest line, and the largest event data, accepted (bytes).
        #[arg(long, default_value_t = ssehub::DEFAULT_MAX_SIZE)]
        max_size: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logger::install();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Decode { file, max_size } => decode::run(file, max_size).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("ssehub: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_takes_any_max_size_a_usize_holds() {
        let max = usize::MAX.to_string();
        let cli = Cli::try_parse_from(["ssehub", "decode", "--max-size", &max]).unwrap();
        assert!(matches!(cli.command, Command::Decode { max_size: usize::MAX, .. }));
        let past = format!("{}0", usize::MAX);
        assert!(Cli::try_parse_from(["ssehub", "decode", "--max-size", &past]).is_err());
    }
}
