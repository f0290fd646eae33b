//! Test fixture: imports `fixture:foreign/exfiltrate`, which no host
//! provides, so the host must refuse it and name that import.

wit_bindgen::generate!({
    path: "wit-fixture",
    world: "fixture:foreign/foreign",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Foreign;

impl Guest for Foreign {
    fn handle(_request: IncomingRequest, _out: ResponseOutparam) {
        fixture::foreign::exfiltrate::send("secrets");
    }
}

export!(Foreign);
