//! Everything migration-check says to GitHub, and everything it learns from
//! the Actions runner: the event context and inputs ([`context`]), the sticky
//! pull-request comment ([`client`]), and the workflow commands and files —
//! masks, annotations, outputs, job summary ([`workflow`]). It takes rendered
//! text and knows nothing of migrations or PostgreSQL, so the report model
//! can change without touching it.

pub mod client;
pub mod context;
pub mod tree;
pub mod workflow;

pub use client::{
    ClientOptions, CommentOutcome, CommentsClient, ExistingComment, GitHubError, Poster, marker_for,
};
pub use context::{ActionContext, ActionInputs, ContextError, PullRequest, Secret};
pub use workflow::{
    Annotation, Level, SummaryWritten, add_mask, annotation, cap_annotations, write_outputs,
    write_summary,
};
