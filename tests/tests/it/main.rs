//! Every integration test in one binary, so the test suite links once.
//! Each module drives the real `budget-host` binary (see the harness in
//! `budget_host_tests`).

mod admin;
mod cache;
mod check;
mod cli;
mod connections;
mod docs;
mod isolation;
mod keyvalue;
mod ledger;
mod lifecycle;
mod openapi;
mod releases;
mod serving;
mod sql;
mod web;
