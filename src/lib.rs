//! migration-check proves, on a real throwaway PostgreSQL, that a project's
//! SQL migrations are safe to merge: each migration runs up → down → up with a
//! full schema snapshot after every step. The binary (`main.rs`) is a thin
//! shell over [`app::run`]. Modules follow DESIGN.md's layering, dependencies
//! pointing down: main → app → config → verify → report → compat → analysis → migrate →
//! postgres → cache → checksum → migrations → schema → policy → github → cli →
//! error. A trait two layers share lives in the lower one; `.ci/module-graph`
//! checks the order and that no two modules import each other.

pub mod analysis;
pub mod app;
pub mod cache;
pub mod checksum;
pub mod cli;
pub mod compat;
pub mod config;
pub mod error;
pub mod github;
pub mod migrate;
pub mod migrations;
pub mod policy;
pub mod postgres;
pub mod report;
pub mod schema;
pub mod verify;
