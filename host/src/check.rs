//! `budget-host check FILE.wasm`: would this host accept the component?
//! Runs the same validation as loading: header, compilation, handler
//! export, imports against grants, and linking.

use crate::cli::CheckArgs;
use crate::config::{AppsConfig, Capability};
use crate::runtime::artifact_cache::{ArtifactCache, sha256_hex};
use crate::runtime::inspect::{self, Grants, ImportKind};
use crate::runtime::state::build_linker;
use crate::runtime::{EngineSettings, build_engine, loader};
use std::collections::BTreeSet;
use std::process::ExitCode;

fn refuse(file: &std::path::Path, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("refused: {}: {message}", file.display());
    ExitCode::FAILURE
}

pub fn run(args: &CheckArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.file) {
        Ok(bytes) => bytes,
        Err(error) => return refuse(&args.file, format!("cannot read: {error}")),
    };
    let grants_owned: Option<(String, BTreeSet<Capability>)> = match &args.app {
        None => None,
        Some(name) => match AppsConfig::load(&args.apps) {
            Ok(config) => match config.apps.into_iter().find(|a| &a.name == name) {
                Some(app) => Some((app.name, app.capabilities)),
                None => return refuse(&args.file, format!("no app `{name}` in {}", args.apps.display())),
            },
            Err(error) => return refuse(&args.file, error),
        },
    };
    let grants = match &grants_owned {
        Some((name, capabilities)) => Grants::App { name, capabilities },
        None => Grants::Any,
    };

    // A small pool: check instantiates nothing.
    let engine = match build_engine(&EngineSettings { max_instances: 1, ..EngineSettings::default() }) {
        Ok(engine) => engine,
        Err(error) => return refuse(&args.file, format!("cannot create engine: {error:#}")),
    };
    // Compile without touching the serving cache directory.
    let scratch = std::env::temp_dir().join(format!("budget-host-check-{}", std::process::id()));
    let cache = ArtifactCache::new(&scratch, &engine);
    let digest = sha256_hex(&bytes);
    let compiled = loader::compile(&engine, &cache, &bytes, &digest);
    let _ = std::fs::remove_dir_all(&scratch);
    let component = match compiled {
        Ok((component, _)) => component,
        Err(error) => return refuse(&args.file, error),
    };

    let info = inspect::describe(&engine, &component);
    println!("component: {}", args.file.display());
    println!("sha256:    {digest}");
    println!("size:      {} bytes", bytes.len());
    println!("exports:");
    for export in &info.exports {
        println!("  {export}");
    }
    println!("imports:");
    for import in &info.imports {
        let note = match inspect::classify(import) {
            ImportKind::Wasi => "wasi".to_string(),
            ImportKind::Platform => "platform".to_string(),
            ImportKind::Capability(c) => format!("capability `{}`", c.name()),
            ImportKind::Unknown => "UNKNOWN".to_string(),
        };
        println!("  {import}  ({note})");
    }

    let linker = match build_linker(&engine) {
        Ok(linker) => linker,
        Err(error) => return refuse(&args.file, format!("cannot build linker: {error:#}")),
    };
    match loader::prepare(&engine, &linker, &component, &grants) {
        Ok(_) => {
            println!("ok: accepted");
            ExitCode::SUCCESS
        }
        Err(error) => refuse(&args.file, error),
    }
}
