//! Where the project-local tools and scratch files are.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the harness sits in crates/")
        .to_path_buf()
}

/// A project-local tool: `.venv/bin/<name>`, installed by `cargo xtask setup` (or `ci`, `demo`).
pub fn tool(name: &str) -> Result<PathBuf> {
    installed(".venv/bin", name, "moto and cargo-lambda into .venv")
}

/// `target/harness`, for logs of the processes the harness starts.
pub fn scratch_dir() -> Result<PathBuf> {
    let dir = root().join("target/harness");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A tool of the proxy's own virtualenv: `.venv/proxy/bin/<name>` (mitmproxy, whose exact pins
/// of Flask and cryptography would otherwise move moto's), installed by `cargo xtask setup`.
pub fn proxy_tool(name: &str) -> Result<PathBuf> {
    installed(".venv/proxy/bin", name, "mitmproxy into .venv/proxy")
}

/// `<root>/<dir>/<name>`, or an error that says how to install it.
fn installed(dir: &str, name: &str, what: &str) -> Result<PathBuf> {
    let path = root().join(dir).join(name);
    if !path.exists() {
        bail!(
            "{} is missing: run `cargo xtask setup` (or `cargo xtask ci`), which installs {what}",
            path.display()
        );
    }
    Ok(path)
}
