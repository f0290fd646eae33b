//! `budget-host check`: validates a component before it is served.

use budget_host_tests::{component, host_binary};
use std::process::Command;

fn check(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(host_binary()).arg("check").args(args).output().expect("run check");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn accepts_a_wasi_http_component_and_lists_its_interfaces() {
    let path = component("hello");
    let (ok, stdout, stderr) = check(&[path.to_str().expect("utf-8 path")]);
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("wasi:http/incoming-handler@0.2.12"), "{stdout}");
    assert!(stdout.contains("wasi:http/types@0.2.12  (wasi)"), "{stdout}");
    assert!(stdout.contains("ok: accepted"));
}

#[test]
fn refuses_a_core_module() {
    let dir = tempfile::tempdir().expect("tempdir");
    let core = dir.path().join("core.wasm");
    // The smallest valid core module: magic and version 1.
    std::fs::write(&core, b"\0asm\x01\0\0\0").expect("write");
    let (ok, _, stderr) = check(&[core.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(stderr.contains("core WebAssembly module, not a component"), "{stderr}");
}

#[test]
fn refuses_a_non_wasm_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"definitely not wasm").expect("write");
    let (ok, _, stderr) = check(&[file.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(stderr.contains("not a WebAssembly binary"), "{stderr}");
}

#[test]
fn refuses_an_unknown_import_and_names_it() {
    let path = component("foreign_import");
    let (ok, stdout, stderr) = check(&[path.to_str().expect("utf-8 path")]);
    assert!(!ok);
    assert!(stdout.contains("fixture:foreign/exfiltrate@0.1.0  (UNKNOWN)"), "{stdout}");
    assert!(
        stderr.contains("imports `fixture:foreign/exfiltrate@0.1.0`, which this host does not provide"),
        "{stderr}"
    );
}

#[test]
fn checks_against_an_apps_grants() {
    let dir = tempfile::tempdir().expect("tempdir");
    let apps = dir.path().join("apps.toml");
    std::fs::write(&apps, "[apps.greeter]\nroutes = [\"/greet\"]\ncomponent = \"g.wasm\"\n").expect("write");
    let path = component("greeter");
    let path = path.to_str().expect("utf-8 path");
    let apps = apps.to_str().expect("utf-8 path");
    let (ok, stdout, stderr) = check(&[path, "--app", "greeter", "--apps", apps]);
    assert!(ok, "config and logging need no grant: {stdout}{stderr}");
    let (ok, _, stderr) = check(&[path, "--app", "nobody", "--apps", apps]);
    assert!(!ok);
    assert!(stderr.contains("no app `nobody`"), "{stderr}");
}
