//! The API tests: one binary, one harness (`helpers`).
//!
//! Most tests run the server in this process with manual clocks and talk to it over loopback HTTP
//! (raw, or through the real `adminstats-client`); `process` starts the real binary where only a
//! process will do.

mod helpers;

mod admin;
mod auth;
mod console;
mod dept_sums;
mod geo;
mod hardening;
mod ingest;
mod postgres;
mod process;
mod queries;
