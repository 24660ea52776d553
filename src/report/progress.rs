//! Progress of a verification while it runs: the pipeline (`verify`) reports each
//! migration as it starts and finishes, the terminal renderer prints it. The trait lives
//! with the report model it speaks in, so the renderer needs nothing from the pipeline.

use super::MigrationReport;
use crate::migrations::Migration;

/// Receives progress while the pipeline runs (the terminal prints it on stderr).
pub trait Progress {
    /// Migration `index` (0-based) of `total` starts.
    fn started(&mut self, index: usize, total: usize, migration: &Migration);
    /// Its verdict is known.
    fn finished(&mut self, index: usize, total: usize, report: &MigrationReport);
    /// The sequence cycle starts.
    fn sequence_started(&mut self, count: usize);
}

/// A progress sink that prints nothing.
pub struct Silent;

impl Progress for Silent {
    fn started(&mut self, _: usize, _: usize, _: &Migration) {}
    fn finished(&mut self, _: usize, _: usize, _: &MigrationReport) {}
    fn sequence_started(&mut self, _: usize) {}
}
