//! `rotator`: the operator's view of the fleet (status, audit), rotations on demand, the sweep,
//! and the doctor that checks a deployment before its first rotation.
//!
//! Exit codes: 0 fine, 1 something needs attention, 2 an error (printed as one line).

mod adopt;
mod audit;
mod cli;
mod clients;
mod doctor;
mod findings;
mod recover;
mod render;
mod rotate;
mod status;
mod sweep;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use clap::error::ErrorKind;
use rotator_aws::RequestCounter;

use cli::{Cli, Command};

/// Everything was fine.
const FINE: u8 = 0;
/// Something needs attention.
const ATTENTION: u8 = 1;
/// An error: a bad argument, AWS unreachable or refusing.
const ERROR: u8 = 2;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // `rotator` alone prints the help once, as `rotator --help` does.
        Err(error)
            if matches!(
                error.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) =>
        {
            print!("{}", error.render());
            return ExitCode::from(FINE);
        }
        Err(error) => {
            eprintln!("rotator: {}", clap_problem(&error.to_string()));
            return ExitCode::from(ERROR);
        }
    };
    let requests = RequestCounter::default();
    let began = Instant::now();
    let result = run(&cli, &requests).await;
    if cli.verbose {
        eprintln!(
            "rotator: {} AWS requests in {:.2} s",
            requests.count(),
            began.elapsed().as_secs_f64()
        );
    }
    match result {
        Ok(false) => ExitCode::from(FINE),
        Ok(true) => ExitCode::from(ATTENTION),
        Err(error) => {
            eprintln!("rotator: error: {}", one_line(&format!("{error:#}")));
            ExitCode::from(ERROR)
        }
    }
}

/// Runs the command; `Ok(true)` when something needs attention.
async fn run(cli: &Cli, requests: &RequestCounter) -> Result<bool> {
    let config = clients::sdk_config(&cli.aws).await?;
    let ports = clients::ports(&config, requests);
    match &cli.command {
        Command::Status(args) if args.findings => {
            findings::run(&ports, &config, args, requests).await
        }
        Command::Status(args) => status::run(&ports, args).await,
        Command::Audit(args) => audit::run(&ports, args).await,
        Command::Rotate(args) => rotate::run(&ports, args).await,
        Command::Sweep(args) => {
            let deployment = clients::deployment(&config, requests);
            sweep::run(&ports, &deployment, args).await
        }
        Command::Adopt(args) => {
            let deployment = clients::deployment(&config, requests);
            adopt::run(&ports, &deployment, args).await
        }
        Command::Recover(args) => recover::run(&ports, &config, requests, args).await,
        Command::Doctor(args) => {
            let deployment = clients::deployment(&config, requests);
            doctor::run(&ports, &deployment, args).await
        }
    }
}

/// Clap's report up to its first blank line (`error: invalid value ...`, with the arguments it
/// names) and its suggestions (`tip: a similar subcommand exists: 'status'`), on one line; the
/// usage and the pointer to --help below them are left out.
fn clap_problem(report: &str) -> String {
    let mut lines = report.lines().skip_while(|line| line.trim().is_empty());
    let mut problem: Vec<&str> = lines
        .by_ref()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    problem.extend(lines.map(str::trim).filter(|line| line.starts_with("tip:")));
    if problem.is_empty() {
        return "error: invalid arguments (see rotator --help)".to_owned();
    }
    problem.join(" ")
}

/// An error on one line, whatever the services put in it. The SDK's `DisplayErrorContext`,
/// which the adapters use for errors that carry no service code (an unreachable endpoint, a
/// timeout), appends the error's `Debug` form in parentheses: the readable chain before it
/// says the same, so it is left out.
fn one_line(text: &str) -> String {
    let mut text = text.to_owned();
    while let Some(start) = debug_start(&text) {
        text.replace_range(start..closing(&text, start + 1), "");
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where ` (Name(` or ` (Name {` begins: a `Debug` form in parentheses.
fn debug_start(text: &str) -> Option<usize> {
    text.match_indices(" (").map(|(at, _)| at).find(|at| {
        let rest = &text[at + 2..];
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        rest.starts_with(|c: char| c.is_ascii_uppercase())
            && (rest[name_len..].starts_with('(') || rest[name_len..].starts_with(" {"))
    })
}

/// The end of the bracket opened at `open` (just past its closing bracket), or the end.
fn closing(text: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (at, c) in text[open..].char_indices() {
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return open + at + c.len_utf8();
                }
            }
            _ => {}
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debug_form_of_an_sdk_error_is_left_out() {
        let text = "ListSecrets for the secrets named IamKeyRotator/* failed: dispatch failure: io error: \
                    tcp connect error: Connection refused (os error 111) (DispatchFailure(DispatchFailure { \
                    source: ConnectorError { kind: Io, source: Os { code: 111 } }, connection: Unknown }))";
        assert_eq!(
            one_line(text),
            "ListSecrets for the secrets named IamKeyRotator/* failed: dispatch failure: io error: \
             tcp connect error: Connection refused (os error 111)"
        );
        assert_eq!(one_line("a\nb  (see the README)"), "a b (see the README)");
    }

    #[test]
    fn clap_reports_become_one_line() {
        assert_eq!(
            clap_problem(
                "error: the following required arguments were not provided:\n  --wait\n\nUsage: rotator rotate\n"
            ),
            "error: the following required arguments were not provided: --wait"
        );
        assert_eq!(
            clap_problem(
                "error: unrecognized subcommand 'stauts'\n\n  tip: a similar subcommand exists: 'status'\n\nUsage: rotator [OPTIONS] <COMMAND>\n\nFor more information, try '--help'.\n"
            ),
            "error: unrecognized subcommand 'stauts' tip: a similar subcommand exists: 'status'"
        );
    }
}
