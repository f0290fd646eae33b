//! What a component imports and exports, and whether this host may run it.
//! Shared by `budget-host check` and the loader, so both refuse the same
//! components with the same words.

use crate::capabilities::PROVIDED_CAPABILITIES;
use crate::config::Capability;
use std::collections::BTreeSet;
use wasmtime::Engine;
use wasmtime::component::Component;

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];

/// The export every component must have (any 0.2.x).
pub const HANDLER_EXPORT: &str = "wasi:http/incoming-handler@0.2";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("not a WebAssembly binary")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component; build for wasm32-wasip2 \
         (cargo build --target wasm32-wasip2, or cargo component build)"
    )]
    CoreModule,
    #[error("unsupported WebAssembly binary version")]
    UnknownBinaryVersion,
    #[error("does not compile: {0}")]
    Compile(String),
    #[error("does not export `wasi:http/incoming-handler@0.2.x` (exports: {found})")]
    MissingHandler { found: String },
    #[error("imports `{import}`, which this host does not provide")]
    UnknownImport { import: String },
    #[error("imports `{import}`, but app `{app}` is not granted the `{capability}` capability")]
    NotGranted { import: String, app: String, capability: &'static str },
    #[error("imports `{import}`: the `{capability}` capability is not available in this host version")]
    CapabilityUnavailable { import: String, capability: &'static str },
    #[error("cannot be linked: {0}")]
    Link(String),
}

/// How the host satisfies one import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// A WASI 0.2 interface (filesystem and sockets are linked but grant
    /// nothing: no preopens, no network).
    Wasi,
    /// `wasi:config/store` or `wasi:logging/logging`.
    Platform,
    /// A data capability that the app must be granted.
    Capability(Capability),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// Checks the binary header before anything is compiled.
pub fn check_header(bytes: &[u8]) -> Result<(), CheckError> {
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(CheckError::NotWasm);
    }
    let version = &bytes[4..8];
    if version == COMPONENT_VERSION {
        Ok(())
    } else if version == CORE_VERSION {
        Err(CheckError::CoreModule)
    } else {
        Err(CheckError::UnknownBinaryVersion)
    }
}

pub fn describe(engine: &Engine, component: &Component) -> ComponentInfo {
    let ty = component.component_type();
    ComponentInfo {
        imports: ty.imports(engine).map(|(name, _)| name.to_string()).collect(),
        exports: ty.exports(engine).map(|(name, _)| name.to_string()).collect(),
    }
}

/// Splits `ns:pkg/iface@version` into its parts.
fn parse_name(name: &str) -> Option<(&str, &str, &str)> {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    let (package, interface) = path.split_once('/')?;
    Some((package, interface, version))
}

pub fn classify(import: &str) -> ImportKind {
    let Some((package, interface, version)) = parse_name(import) else {
        return ImportKind::Unknown;
    };
    let wasi_p2 = version.starts_with("0.2.");
    match (package, interface) {
        ("wasi:cli" | "wasi:clocks" | "wasi:io" | "wasi:random" | "wasi:filesystem" | "wasi:sockets", _) if wasi_p2 => {
            ImportKind::Wasi
        }
        ("wasi:http", "types" | "outgoing-handler") if wasi_p2 => ImportKind::Wasi,
        ("wasi:config", "store") if version.starts_with("0.2.0") => ImportKind::Platform,
        ("wasi:logging", "logging") if version.starts_with("0.1.0") => ImportKind::Platform,
        ("budget:platform", iface) if version.starts_with("0.1.") => Capability::PLATFORM
            .into_iter()
            .find(|c| c.name() == iface)
            .map_or(ImportKind::Unknown, ImportKind::Capability),
        ("wasi:keyvalue", "store" | "atomics" | "batch") if version == "0.2.0-draft" => {
            ImportKind::Capability(Capability::KeyValue)
        }
        _ => ImportKind::Unknown,
    }
}

/// Whose grants to check imports against.
pub enum Grants<'a> {
    /// `check` without an app: any capability counts as granted.
    Any,
    App {
        name: &'a str,
        capabilities: &'a BTreeSet<Capability>,
    },
}

/// Refuses missing handler exports, unknown imports and capabilities the
/// app was not granted (or the host does not provide), naming the import.
pub fn validate(info: &ComponentInfo, grants: &Grants<'_>) -> Result<(), CheckError> {
    if !info.exports.iter().any(|e| e.starts_with(HANDLER_EXPORT)) {
        return Err(CheckError::MissingHandler { found: info.exports.join(", ") });
    }
    for import in &info.imports {
        match classify(import) {
            ImportKind::Wasi | ImportKind::Platform => {}
            ImportKind::Unknown => return Err(CheckError::UnknownImport { import: import.clone() }),
            ImportKind::Capability(capability) => {
                if let Grants::App { name, capabilities } = grants
                    && !capabilities.contains(&capability)
                {
                    return Err(CheckError::NotGranted {
                        import: import.clone(),
                        app: (*name).to_string(),
                        capability: capability.name(),
                    });
                }
                if !PROVIDED_CAPABILITIES.contains(&capability) {
                    return Err(CheckError::CapabilityUnavailable {
                        import: import.clone(),
                        capability: capability.name(),
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_detection() {
        assert_eq!(check_header(b"\0asm\x01\0\0\0"), Err(CheckError::CoreModule));
        assert_eq!(check_header(b"\0asm\x0d\0\x01\0"), Ok(()));
        assert_eq!(check_header(b"hello world"), Err(CheckError::NotWasm));
        assert_eq!(check_header(b"\0asm"), Err(CheckError::NotWasm));
    }

    #[test]
    fn classifies_imports() {
        assert_eq!(classify("wasi:cli/environment@0.2.0"), ImportKind::Wasi);
        assert_eq!(classify("wasi:http/types@0.2.12"), ImportKind::Wasi);
        assert_eq!(classify("wasi:http/types@0.3.0"), ImportKind::Unknown);
        assert_eq!(classify("wasi:config/store@0.2.0-rc.1"), ImportKind::Platform);
        assert_eq!(classify("wasi:logging/logging@0.1.0-draft"), ImportKind::Platform);
        assert_eq!(classify("budget:platform/sql@0.1.0"), ImportKind::Capability(Capability::Sql));
        assert_eq!(classify("budget:platform/files@0.1.0"), ImportKind::Unknown);
        assert_eq!(classify("budget:platform/keyvalue@0.1.0"), ImportKind::Unknown);
        assert_eq!(classify("wasi:keyvalue/atomics@0.2.0-draft"), ImportKind::Capability(Capability::KeyValue));
        assert_eq!(classify("wasi:keyvalue/store@0.2.0-draft2"), ImportKind::Unknown);
        assert_eq!(classify("acme:evil/steal@1.0.0"), ImportKind::Unknown);
        assert_eq!(classify("no-slash"), ImportKind::Unknown);
    }

    fn info(imports: &[&str]) -> ComponentInfo {
        ComponentInfo {
            imports: imports.iter().map(|s| s.to_string()).collect(),
            exports: vec!["wasi:http/incoming-handler@0.2.6".into()],
        }
    }

    #[test]
    fn validation_names_the_import() {
        let err = validate(&info(&["wasi:io/streams@0.2.0", "acme:evil/steal@1.0.0"]), &Grants::Any).unwrap_err();
        assert_eq!(err.to_string(), "imports `acme:evil/steal@1.0.0`, which this host does not provide");

        let none = BTreeSet::new();
        let grants = Grants::App { name: "hello", capabilities: &none };
        let err = validate(&info(&["budget:platform/cache@0.1.0"]), &grants).unwrap_err();
        assert!(matches!(err, CheckError::NotGranted { capability: "cache", .. }), "{err}");
        assert!(err.to_string().contains("budget:platform/cache@0.1.0"));
    }

    #[test]
    fn handler_export_is_required() {
        let mut component = info(&[]);
        component.exports = vec!["wasi:cli/run@0.2.0".into()];
        assert!(matches!(validate(&component, &Grants::Any), Err(CheckError::MissingHandler { .. })));
    }
}
