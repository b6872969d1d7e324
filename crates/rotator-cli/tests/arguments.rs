//! The `rotator` binary's arguments and its errors before any AWS request: one `--prefix` rule
//! (and `ROTATOR_PREFIX`) for every command, one duration grammar for every duration flag, the
//! range of the numbers, clap's suggestions, the help (bare `rotator` too), the global AWS
//! flags, and the error that says how to give credentials. No AWS and no network: each run has
//! an empty environment, empty AWS configuration files and the instance metadata disabled, and
//! a refused endpoint where one is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;
use rotator_harness::fleet::{CliRun, run_cli};
use rotator_harness::moto::free_port;

fn cli() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_rotator"))
}

/// An empty file for `AWS_CONFIG_FILE` or `AWS_SHARED_CREDENTIALS_FILE`.
fn empty_file(name: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("rotator-arguments-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, "")?;
    Ok(path)
}

/// The CLI with nothing of the caller's environment: no credentials, no profile, empty AWS
/// configuration files, no instance metadata.
fn nothing() -> Result<Command> {
    let mut command = Command::new(cli());
    command
        .env_clear()
        .env("AWS_CONFIG_FILE", empty_file("config")?)
        .env("AWS_SHARED_CREDENTIALS_FILE", empty_file("credentials")?)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    Ok(command)
}

/// The CLI with credentials and a region, and an endpoint where nothing listens: a command that
/// gets as far as a request fails with `Connection refused`.
fn refused() -> Result<Command> {
    let mut command = nothing()?;
    command
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIAUNREACHABLE00000")
        .env("AWS_SECRET_ACCESS_KEY", "unreachable")
        .env(
            "AWS_ENDPOINT_URL",
            format!("http://127.0.0.1:{}", free_port()?),
        );
    Ok(command)
}

/// A refusal: exit code 2, nothing on stdout, one line on stderr that names `named`.
fn assert_refused(run: &CliRun, named: &str, context: &str) {
    assert_eq!(run.code, Some(2), "{context}: {run:?}");
    assert!(run.stdout.is_empty(), "{context}: {run:?}");
    assert_eq!(run.stderr.trim().lines().count(), 1, "{context}: {run:?}");
    assert!(
        run.stderr.starts_with("rotator: error:") && run.stderr.contains(named),
        "{context}: {run:?}"
    );
}

/// Every command that takes `--prefix`, with the arguments it needs besides.
const WITH_PREFIX: [&[&str]; 6] = [
    &["status"],
    &["audit"],
    &["doctor"],
    &["rotate", "--all", "--wait"],
    &["adopt", "--all"],
    &["sweep"],
];

#[test]
fn every_command_refuses_a_prefix_without_its_slash_from_the_flag_or_rotator_prefix() -> Result<()>
{
    for command in WITH_PREFIX {
        for prefix in ["IamKeyRotator", "/", "Iam Key/"] {
            let run = run_cli(refused()?.args(command).args(["--prefix", prefix]))?;
            let context = format!("{command:?} --prefix {prefix:?}");
            assert_refused(&run, "--prefix", &context);
            assert!(run.stderr.contains("ending with '/'"), "{context}: {run:?}");
            assert!(
                !run.stderr.contains("Connection refused"),
                "{context}: nothing is read"
            );
        }
        let run = run_cli(
            refused()?
                .env("ROTATOR_PREFIX", "IamKeyRotator")
                .args(command),
        )?;
        assert_refused(
            &run,
            "--prefix",
            &format!("{command:?} with ROTATOR_PREFIX"),
        );
        assert!(run.stderr.contains("ending with '/'"), "{run:?}");
    }
    // A good ROTATOR_PREFIX is the one listed; the flag wins over it.
    let run = run_cli(refused()?.env("ROTATOR_PREFIX", "Team/").arg("status"))?;
    assert_refused(
        &run,
        "ListSecrets for the secrets named Team/*",
        "ROTATOR_PREFIX",
    );
    let run = run_cli(
        refused()?
            .env("ROTATOR_PREFIX", "Team/")
            .args(["status", "--prefix", "Other/"]),
    )?;
    assert_refused(
        &run,
        "the secrets named Other/*",
        "--prefix over ROTATOR_PREFIX",
    );
    Ok(())
}

#[test]
fn every_duration_flag_takes_one_grammar_and_refuses_with_one_message() -> Result<()> {
    let flags: [(&[&str], &str); 6] = [
        (&["status"], "--stuck-after"),
        (&["sweep"], "--grace"),
        (&["sweep"], "--grace-max"),
        (&["sweep"], "--usage-lag"),
        (&["rotate", "IamKeyRotator/x", "--wait"], "--timeout"),
        (&["rotate", "IamKeyRotator/x", "--wait"], "--interval"),
    ];
    for bad in ["7days", "24", "1.5h", "3w"] {
        let mut messages = Vec::new();
        for (command, flag) in flags {
            let run = run_cli(refused()?.args(command).args([flag, bad]))?;
            assert_refused(&run, flag, &format!("{command:?} {flag} {bad}"));
            let problem = format!("{bad:?} is not a duration");
            assert!(run.stderr.contains(&problem), "{flag} {bad}: {run:?}");
            // The message after the flag's name is the same for every flag.
            let after = run.stderr.split(&format!("{flag} <DURATION>")).nth(1);
            messages.push(after.unwrap_or(&run.stderr).trim().to_owned());
        }
        messages.dedup();
        assert_eq!(messages.len(), 1, "one message for {bad:?}: {messages:#?}");
    }
    // Each unit is taken, by every flag: the command gets as far as AWS.
    let units = ["90s", "30m", "24h", "7d", "0s", "1m"];
    for ((command, flag), good) in flags.into_iter().zip(units) {
        let run = run_cli(refused()?.args(command).args([flag, good]))?;
        assert_eq!(run.code, Some(2), "{flag} {good}: {run:?}");
        assert!(
            !run.stderr.contains(flag) && run.stderr.contains("Connection refused"),
            "{flag} {good} is a duration: {run:?}"
        );
    }
    Ok(())
}

#[test]
fn numbers_out_of_range_are_range_errors() -> Result<()> {
    let run = run_cli(refused()?.args(["audit", "--max-age-days", "-1"]))?;
    assert_refused(&run, "--max-age-days", "-1 days");
    assert!(run.stderr.contains("-1 is not in 0..=36500"), "{run:?}");
    let run = run_cli(refused()?.args(["audit", "--max-age-days", "36501"]))?;
    assert_refused(&run, "0..=36500", "36501 days");
    let run = run_cli(refused()?.args(["rotate", "--all", "--wait", "--max-in-flight", "-1"]))?;
    assert_refused(&run, "--max-in-flight", "-1 in flight");
    assert!(run.stderr.contains("is not in 1..=100"), "{run:?}");
    Ok(())
}

#[test]
fn typing_errors_get_clap_s_suggestion() -> Result<()> {
    let run = run_cli(refused()?.arg("stauts"))?;
    assert_refused(&run, "'status'", "stauts");
    assert!(run.stderr.contains("similar subcommand"), "{run:?}");
    let run = run_cli(refused()?.args(["status", "--jsn"]))?;
    assert_refused(&run, "a similar argument exists: '--json'", "--jsn");
    Ok(())
}

#[test]
fn bare_rotator_prints_the_help_once() -> Result<()> {
    let bare = run_cli(&mut nothing()?)?;
    assert_eq!(bare.code, Some(0), "{bare:?}");
    assert!(bare.stderr.is_empty(), "{bare:?}");
    assert_eq!(bare.stdout.matches("Usage: rotator").count(), 1, "{bare:?}");
    for command in ["status", "audit", "rotate", "sweep", "adopt", "doctor"] {
        assert!(bare.stdout.contains(command), "{command}: {bare:?}");
    }
    let help = run_cli(nothing()?.arg("--help"))?;
    assert_eq!(help.code, Some(0));
    assert_eq!(help.stdout.matches("Usage: rotator").count(), 1, "{help:?}");
    for flag in ["--profile", "--region", "--endpoint-url", "ROTATOR_PREFIX"] {
        assert!(help.stdout.contains(flag), "{flag}: {help:?}");
    }
    Ok(())
}

#[test]
fn each_command_s_help_says_which_permissions_it_needs_and_names_one_role_flag() -> Result<()> {
    for command in ["status", "audit", "rotate", "sweep", "adopt", "doctor"] {
        let help = run_cli(nothing()?.args([command, "--help"]))?;
        assert_eq!(help.code, Some(0), "{help:?}");
        assert!(help.stdout.contains("Permissions:"), "{command}: {help:?}");
        assert!(help.stdout.contains("--role <NAME>"), "{command}: {help:?}");
        assert!(
            help.stdout.contains("--prefix <PREFIX>"),
            "{command}: {help:?}"
        );
        assert!(
            !help.stdout.contains("--reader-role") && !help.stdout.contains("--member-role"),
            "the old names are hidden aliases: {command}: {help:?}"
        );
        for global in ["--profile", "--region", "--endpoint-url"] {
            assert!(help.stdout.contains(global), "{command} {global}: {help:?}");
        }
    }
    let adopt = run_cli(nothing()?.args(["adopt", "--help"]))?;
    assert!(adopt.stdout.contains("secretWriterArns"), "{adopt:?}");
    // The old names still parse: the refusal is the prefix's, not an unknown argument.
    for (command, old) in [("status", "--reader-role"), ("sweep", "--member-role")] {
        let run = run_cli(refused()?.args([command, old, "SomeRole", "--prefix", "NoSlash"]))?;
        assert_refused(&run, "ending with '/'", old);
    }
    Ok(())
}

#[test]
fn no_credentials_or_an_unknown_profile_says_how_to_give_them() -> Result<()> {
    // Each case: its name, the variables set, and the flags given.
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>);
    let cases: [Case; 4] = [
        ("no credentials", vec![("AWS_REGION", "us-east-1")], vec![]),
        ("no credentials nor region", vec![], vec![]),
        (
            "an unknown AWS_PROFILE",
            vec![("AWS_REGION", "us-east-1"), ("AWS_PROFILE", "nonexistent")],
            vec![],
        ),
        (
            "an unknown --profile",
            vec![],
            vec!["--profile", "nonexistent"],
        ),
    ];
    for (case, variables, flags) in cases {
        let mut command = nothing()?;
        command.envs(variables).args(flags).arg("status");
        let run = run_cli(&mut command)?;
        assert_refused(&run, "no AWS credentials found", case);
        for how in ["--profile", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"] {
            assert!(run.stderr.contains(how), "{case}: {run:?}");
        }
        for noise in ["IMDS", "dispatch failure", "ListSecrets"] {
            assert!(!run.stderr.contains(noise), "{case}: {run:?}");
        }
        if case.contains("profile") {
            assert!(run.stderr.contains("\"nonexistent\""), "{case}: {run:?}");
        }
    }
    // An IAM Identity Center (SSO) profile whose sign-in has no cached token (no `aws sso
    // login` yet): the reason, then how; nothing is sent.
    let config = empty_file("sso")?;
    std::fs::write(
        &config,
        "[profile ops]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Operator\n\
         region = eu-west-1\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\n\
         sso_region = eu-west-1\n",
    )?;
    let home = config.parent().map(Path::to_path_buf).unwrap_or_default();
    let run = run_cli(
        nothing()?
            .env("AWS_CONFIG_FILE", &config)
            .env("HOME", &home)
            .args(["--profile", "ops", "status"]),
    )?;
    assert_refused(
        &run,
        "the AWS credentials of the profile \"ops\" could not be loaded",
        "sso",
    );
    assert!(
        run.stderr.contains("SSO token") && run.stderr.contains("aws sso login"),
        "{run:?}"
    );
    // Credentials without a region: the region's own error, which names --region.
    let run = run_cli(
        nothing()?
            .env("AWS_ACCESS_KEY_ID", "AKIAUNREACHABLE00000")
            .env("AWS_SECRET_ACCESS_KEY", "unreachable")
            .arg("status"),
    )?;
    assert_refused(&run, "--region", "no region");
    Ok(())
}

#[test]
fn the_global_flags_take_the_place_of_the_environment() -> Result<()> {
    let endpoint = format!("http://127.0.0.1:{}", free_port()?);
    let run = run_cli(
        nothing()?
            .env("AWS_ACCESS_KEY_ID", "AKIAUNREACHABLE00000")
            .env("AWS_SECRET_ACCESS_KEY", "unreachable")
            .args([
                "status",
                "--region",
                "eu-west-1",
                "--endpoint-url",
                &endpoint,
            ]),
    )?;
    assert_refused(&run, "Connection refused", "--region and --endpoint-url");
    // A profile of the configuration files gives credentials and region.
    let config = empty_file("profiles")?;
    std::fs::write(
        &config,
        "[profile ops]\nregion = eu-west-1\naws_access_key_id = AKIAUNREACHABLE00000\naws_secret_access_key = unreachable\n",
    )?;
    let run = run_cli(
        nothing()?
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_ENDPOINT_URL", &endpoint)
            .args(["--profile", "ops", "audit"]),
    )?;
    assert_refused(&run, "Connection refused", "--profile ops");
    let run = run_cli(nothing()?.args(["status", "--endpoint-url", "localhost:4566"]))?;
    assert_refused(
        &run,
        "is not an endpoint URL",
        "an endpoint without its scheme",
    );
    Ok(())
}
