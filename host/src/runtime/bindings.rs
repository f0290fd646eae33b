//! Host bindings for the `budget:platform/component` world's own imports.
//! The WASI packages map to wasmtime-wasi and wasmtime-wasi-http, which
//! implement them; only `wasi:config`, `wasi:logging` and the platform
//! interfaces are generated here.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "budget:platform/component",
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:cli": wasmtime_wasi::p2::bindings::cli,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "budget:platform/sql.transaction": crate::capabilities::sql::SqlTransaction,
        "wasi:keyvalue/store.bucket": crate::capabilities::keyvalue::Bucket,
    },
    imports: {
        "wasi:keyvalue": async,
        "budget:platform/cache": async,
        "budget:platform/sql": async,
        "budget:platform/docs": async,
    },
    require_store_data_send: true,
});
