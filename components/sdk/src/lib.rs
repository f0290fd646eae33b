//! Guest SDK for `budget:platform` components.
//!
//! A component is a function from [`Request`] to [`Response`], usually a
//! [`Router`], exported with [`component!`]:
//!
//! ```no_run
//! use budget_sdk::{Request, Response, Router};
//!
//! fn handle(req: Request) -> Response {
//!     Router::new().get("/hello/{name}", hello).handle(req)
//! }
//!
//! fn hello(req: &Request) -> Response {
//!     Response::json(200, &serde_json::json!({ "hello": req.param("name") }))
//! }
//!
//! budget_sdk::component!(handle);
//! ```
//!
//! Only the imports a component actually calls end up in its binary, so a
//! component that never touches `sql` does not import it and needs no grant.
//!
//! Error policy: the host's errors and the SDK's errors share one envelope,
//! `{"error":{"id":<request id>,"name":<stable name>,"detail":<text>}}`.
//! Build it with [`Request::error`] so that the request id is carried.

pub mod bindings {
    //! Raw bindings to the `budget:platform/component` world.
    wit_bindgen::generate!({
        path: "../../wit",
        world: "budget:platform/component",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "budget_sdk::bindings",
    });
}

pub mod config;
mod http;
pub mod log;
pub mod money;
mod router;

pub use http::{Request, Response, serve};
pub use router::{Handler, Router};

/// The data capabilities, as generated from `wit/`. Typed helpers live next
/// to them; every call returns the interface's `error` variant, never panics.
pub mod sql {
    pub use crate::bindings::budget::platform::sql::*;
}
pub mod docs {
    pub use crate::bindings::budget::platform::docs::*;
}
pub mod cache {
    pub use crate::bindings::budget::platform::cache::*;
}
/// `wasi:keyvalue` (store, atomics, batch), granted as `keyvalue`: the
/// portable key-value interfaces, on the app's cache namespace.
pub mod keyvalue {
    pub use crate::bindings::wasi::keyvalue::*;
}

pub use serde_json;

/// Exports `handler` (a `fn(Request) -> Response`) as the component's
/// `wasi:http/incoming-handler`.
#[macro_export]
macro_rules! component {
    ($handler:path) => {
        struct __BudgetComponent;

        impl $crate::bindings::exports::wasi::http::incoming_handler::Guest for __BudgetComponent {
            fn handle(
                request: $crate::bindings::wasi::http::types::IncomingRequest,
                response_out: $crate::bindings::wasi::http::types::ResponseOutparam,
            ) {
                $crate::serve(request, response_out, $handler);
            }
        }

        $crate::bindings::export!(__BudgetComponent with_types_in $crate::bindings);
    };
}
