//! Embeds the browser app (`web/` at the repository root) into the
//! component: one `(path, content type, etag, bytes)` entry per file, the
//! ETag being FNV-1a 64 of the bytes, computed here once. Tests, local node
//! modules and notes stay out.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const SKIPPED_DIRS: [&str; 3] = ["tests", ".node", "node_modules"];

fn content_type(path: &Path) -> Option<&'static str> {
    Some(match path.extension()?.to_str()? {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "md" | "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if !SKIPPED_DIRS.contains(&name) {
                collect(&path, files);
            }
        } else if content_type(&path).is_some() && !(name == "README.md" && path.parent() == Some(dir)) {
            files.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../../web");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    let mut table = String::from("pub static ASSETS: &[(&str, &str, &str, &[u8])] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let bytes = std::fs::read(file).expect("read an asset");
        let relative = file.strip_prefix(&root).expect("under web/").to_string_lossy().replace('\\', "/");
        let kind = content_type(file).expect("filtered above");
        let _ = writeln!(
            table,
            "    ({:?}, {:?}, \"\\\"{:016x}\\\"\", include_bytes!({:?})),",
            format!("/{relative}"),
            kind,
            fnv1a64(&bytes),
            file.canonicalize().expect("canonical path").display().to_string()
        );
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("assets.rs");
    std::fs::write(out, table).expect("write the asset table");
}
