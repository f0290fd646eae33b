//! `budget-host`: serve budget components, check one before upload, or
//! drive releases on a running host.

use budget_host::cli::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => match budget_host::server::serve_blocking(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                // The subscriber may not be up yet (bad flags, bad apps.toml).
                eprintln!("budget-host: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Check(args) => budget_host::check::run(&args),
        Command::Push(args) => budget_host::client::run(budget_host::client::Request::Push(args)),
        Command::Canary(args) => budget_host::client::run(budget_host::client::Request::Canary(args)),
        Command::Status(args) => budget_host::client::run(budget_host::client::Request::Status(args)),
        Command::History(args) => budget_host::client::run(budget_host::client::Request::History(args)),
        Command::User(args) => budget_host::client::run(budget_host::client::Request::User(args)),
    }
}
