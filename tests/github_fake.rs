//! The sticky PR comment, exercised over real HTTP through the real octocrab
//! client against the local fake GitHub in `fake_github`: creation, in-place
//! update across pages, racing runs, retries that must and must not happen,
//! error mapping, rate limits, token redaction and GitHub Enterprise paths.

mod fake_github;

use std::time::{Duration, Instant};

use fake_github::{BOT_LOGIN, FakeGitHub, Fault, Route, TOKEN};
use migration_check::error::EnvironmentError;
use migration_check::github::{
    ClientOptions, CommentOutcome, CommentsClient, GitHubError, Secret, marker_for,
};

const OWNER: &str = "acme";
const REPO: &str = "widgets";
const PR: u64 = 42;

/// Fast backoff so retry tests take milliseconds; rate-limit waits are
/// honoured as GitHub states them (tests use 1 s).
fn options() -> ClientOptions {
    ClientOptions {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_rate_limit_wait: Duration::from_secs(10),
        timeout: Duration::from_secs(10),
    }
}

fn client(fake: &FakeGitHub) -> CommentsClient {
    CommentsClient::with_options(&fake.api_url(), &Secret::new(TOKEN), options()).unwrap()
}

fn marker() -> String {
    marker_for("migrations")
}

fn body(text: &str) -> String {
    format!("{}\n## migration-check\n{text}\n", marker())
}

async fn upsert(client: &CommentsClient, text: &str) -> Result<CommentOutcome, GitHubError> {
    client
        .upsert_sticky_comment(OWNER, REPO, PR, &marker(), &body(text))
        .await
}

fn ours(fake: &FakeGitHub) -> Vec<fake_github::StoredComment> {
    fake.comments_with(OWNER, REPO, PR, &marker())
}

/// Neither Display nor Debug of `error` contains the token.
fn assert_no_token(error: &GitHubError) {
    let shown = format!("{error} / {error:?}");
    assert!(!shown.contains(TOKEN), "token leaked: {shown}");
    let env: EnvironmentError = error.clone().into();
    assert!(!format!("{env} / {env:?}").contains(TOKEN));
}

#[tokio::test]
async fn creates_the_comment_when_absent() {
    let fake = FakeGitHub::start().await;
    fake.seed_comments(OWNER, REPO, PR, 3);
    let client = client(&fake);

    let outcome = upsert(&client, "All 2 new migrations passed.")
        .await
        .unwrap();

    let mine = ours(&fake);
    assert_eq!(mine.len(), 1);
    assert_eq!(outcome, CommentOutcome::Created(mine[0].id));
    assert_eq!(mine[0].body, body("All 2 new migrations passed."));
    assert_eq!(mine[0].login, BOT_LOGIN);
    assert_eq!(fake.comments(OWNER, REPO, PR).len(), 4);
    assert_eq!(
        fake.count("GET", Route::ListComments),
        2,
        "list, create, re-list"
    );
    assert_eq!(fake.count("POST", Route::CreateComment), 1);
    assert_eq!(fake.count("PATCH", Route::UpdateComment), 0);
    let first = &fake.requests()[0];
    assert_eq!(first.path, "/repos/acme/widgets/issues/42/comments");
    assert!(first.query.as_deref().unwrap().contains("per_page=100"));
}

#[tokio::test]
async fn updates_in_place_among_250_other_comments_across_pages() {
    let fake = FakeGitHub::start().await;
    fake.seed_comments(OWNER, REPO, PR, 120);
    let existing = fake.add_comment(OWNER, REPO, PR, BOT_LOGIN, &body("old verdict"));
    fake.seed_comments(OWNER, REPO, PR, 130);
    // Ours is on page 2; another comment mentioning the tool but without the
    // marker must be left alone.
    fake.add_comment(OWNER, REPO, PR, "user9", "why did migration-check fail?");
    let client = client(&fake);

    let outcome = upsert(&client, "new verdict").await.unwrap();

    assert_eq!(outcome, CommentOutcome::Updated(existing));
    let mine = ours(&fake);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, existing);
    assert_eq!(mine[0].body, body("new verdict"));
    assert_eq!(mine[0].updates, 1);
    assert_eq!(fake.comments(OWNER, REPO, PR).len(), 252);

    // Every page was read, following GitHub's Link header (which points at
    // /repositories/{id}/…), up to page 3.
    let lists: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.route == Some(Route::ListComments))
        .collect();
    assert_eq!(lists.len(), 3);
    assert!(lists[2].path.starts_with("/repositories/"));
    assert!(lists[2].query.as_deref().unwrap().contains("page=3"));
    // Updated with PATCH, as GitHub documents; nothing created.
    assert_eq!(fake.count("PATCH", Route::UpdateComment), 1);
    assert_eq!(fake.count("POST", Route::UpdateComment), 0);
    assert_eq!(fake.count("POST", Route::CreateComment), 0);
}

#[tokio::test]
async fn unchanged_body_is_not_rewritten() {
    let fake = FakeGitHub::start().await;
    let existing = fake.add_comment(OWNER, REPO, PR, BOT_LOGIN, &body("same"));
    let outcome = upsert(&client(&fake), "same").await.unwrap();
    assert_eq!(outcome, CommentOutcome::Updated(existing));
    assert_eq!(fake.count("PATCH", Route::UpdateComment), 0);
}

#[tokio::test]
async fn body_without_the_marker_gets_it_and_paths_get_separate_comments() {
    let fake = FakeGitHub::start().await;
    let client = client(&fake);
    let a = marker_for("migrations");
    let b = marker_for("services/billing/migrations");
    client
        .upsert_sticky_comment(OWNER, REPO, PR, &a, "report A")
        .await
        .unwrap();
    client
        .upsert_sticky_comment(OWNER, REPO, PR, &b, "report B")
        .await
        .unwrap();
    client
        .upsert_sticky_comment(OWNER, REPO, PR, &a, "report A2")
        .await
        .unwrap();
    let all = fake.comments(OWNER, REPO, PR);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].body, format!("{a}\nreport A2"));
    assert_eq!(all[1].body, format!("{b}\nreport B"));
}

#[tokio::test]
async fn a_rival_created_right_after_ours_is_deleted() {
    let fake = FakeGitHub::start().await;
    fake.seed_comments(OWNER, REPO, PR, 5);
    fake.race_on_next_create(&body("the other run's verdict"), false);

    let outcome = upsert(&client(&fake), "our verdict").await.unwrap();

    let mine = ours(&fake);
    assert_eq!(mine.len(), 1, "exactly one sticky comment remains");
    assert_eq!(mine[0].body, body("our verdict"));
    assert_eq!(
        outcome,
        CommentOutcome::DeduplicatedAndUpdated {
            kept: mine[0].id,
            deleted: vec![mine[0].id + 1],
        }
    );
    assert_eq!(fake.count("DELETE", Route::DeleteComment), 1);
}

#[tokio::test]
async fn an_older_rival_is_kept_and_takes_our_body() {
    let fake = FakeGitHub::start().await;
    fake.race_on_next_create(&body("the other run's verdict"), true);

    let outcome = upsert(&client(&fake), "our verdict").await.unwrap();

    let mine = ours(&fake);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].body, body("our verdict"));
    assert_eq!(
        outcome,
        CommentOutcome::DeduplicatedAndUpdated {
            kept: mine[0].id,
            deleted: vec![mine[0].id + 1],
        }
    );
    assert_eq!(fake.count("PATCH", Route::UpdateComment), 1);
}

#[tokio::test]
async fn two_concurrent_runs_leave_exactly_one_comment() {
    let fake = FakeGitHub::start().await;
    fake.seed_comments(OWNER, REPO, PR, 150);
    let first = client(&fake);
    let second = client(&fake);

    let (a, b) = tokio::join!(upsert(&first, "run A"), upsert(&second, "run B"));
    a.unwrap();
    b.unwrap();

    let mine = ours(&fake);
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert!(mine[0].body == body("run A") || mine[0].body == body("run B"));
    assert_eq!(fake.comments(OWNER, REPO, PR).len(), 151);
    // Both runs found nothing and created: the race really happened.
    assert_eq!(fake.count("POST", Route::CreateComment), 2);
}

#[tokio::test]
async fn leftover_duplicates_are_cleaned_on_update() {
    let fake = FakeGitHub::start().await;
    let keep = fake.add_comment(OWNER, REPO, PR, BOT_LOGIN, &body("one"));
    fake.seed_comments(OWNER, REPO, PR, 2);
    let extra = fake.add_comment(OWNER, REPO, PR, BOT_LOGIN, &body("two"));

    let outcome = upsert(&client(&fake), "three").await.unwrap();

    assert_eq!(
        outcome,
        CommentOutcome::DeduplicatedAndUpdated {
            kept: keep,
            deleted: vec![extra]
        }
    );
    assert_eq!(ours(&fake).len(), 1);
    assert_eq!(ours(&fake)[0].body, body("three"));
}

#[tokio::test]
async fn a_500_on_update_is_retried() {
    let fake = FakeGitHub::start().await;
    let existing = fake.add_comment(OWNER, REPO, PR, BOT_LOGIN, &body("old"));
    fake.fail_next(Route::UpdateComment, 2, Fault::ServerError);

    let outcome = upsert(&client(&fake), "new").await.unwrap();

    assert_eq!(outcome, CommentOutcome::Updated(existing));
    assert_eq!(ours(&fake)[0].body, body("new"));
    assert_eq!(fake.count("PATCH", Route::UpdateComment), 3);
}

#[tokio::test]
async fn a_persistent_500_gives_up_after_four_attempts() {
    let fake = FakeGitHub::start().await;
    fake.add_comment(OWNER, REPO, PR, BOT_LOGIN, &body("old"));
    fake.fail_next(Route::UpdateComment, 10, Fault::ServerError);

    let error = upsert(&client(&fake), "new").await.unwrap_err();

    assert!(matches!(
        error,
        GitHubError::Server {
            status: 500,
            attempts: 4,
            ..
        }
    ));
    assert!(!error.is_permission_problem());
    let text = error.to_string();
    assert!(
        text.starts_with("GitHub failed with HTTP 500 while updating comment "),
        "{text}"
    );
    assert!(text.contains("(4 attempt(s)): Server Error"), "{text}");
    assert_eq!(fake.count("PATCH", Route::UpdateComment), 4);
}

#[tokio::test]
async fn a_500_on_list_is_retried() {
    let fake = FakeGitHub::start().await;
    fake.seed_comments(OWNER, REPO, PR, 120);
    fake.fail_next(Route::ListComments, 1, Fault::ServerError);
    let outcome = upsert(&client(&fake), "v").await.unwrap();
    assert!(matches!(outcome, CommentOutcome::Created(_)));
    assert_eq!(ours(&fake).len(), 1);
}

#[tokio::test]
async fn a_create_that_failed_before_landing_is_tried_again_after_checking() {
    let fake = FakeGitHub::start().await;
    fake.fail_next(Route::CreateComment, 1, Fault::ServerError);

    let outcome = upsert(&client(&fake), "v").await.unwrap();

    let mine = ours(&fake);
    assert_eq!(mine.len(), 1);
    assert_eq!(outcome, CommentOutcome::Created(mine[0].id));
    assert_eq!(fake.count("POST", Route::CreateComment), 2);
    // list, create (500), re-list (nothing), create, re-list
    assert_eq!(fake.count("GET", Route::ListComments), 3);
}

#[tokio::test]
async fn a_create_that_landed_but_answered_502_is_not_repeated() {
    let fake = FakeGitHub::start().await;
    fake.seed_comments(OWNER, REPO, PR, 2);
    fake.fail_next(Route::CreateComment, 1, Fault::LandThenServerError);

    let outcome = upsert(&client(&fake), "v").await.unwrap();

    let mine = ours(&fake);
    assert_eq!(mine.len(), 1, "exactly one comment results");
    assert_eq!(outcome, CommentOutcome::Created(mine[0].id));
    assert_eq!(
        fake.count("POST", Route::CreateComment),
        1,
        "never retried blindly"
    );
}

#[tokio::test]
async fn bad_credentials_are_a_permission_problem() {
    let fake = FakeGitHub::start().await;
    let client =
        CommentsClient::with_options(&fake.api_url(), &Secret::new("ghp_revoked"), options())
            .unwrap();

    let error = upsert(&client, "v").await.unwrap_err();

    assert!(
        matches!(error, GitHubError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(error.is_permission_problem());
    assert_eq!(error.status(), Some(401));
    assert_eq!(
        error.to_string(),
        "GitHub rejected the token (401 Unauthorized) while listing the comments of acme/widgets#42: Bad credentials; check the `github-token` input"
    );
    assert_eq!(fake.requests().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn a_read_only_token_on_a_fork_pr_is_a_permission_problem() {
    let fake = FakeGitHub::start().await;
    fake.fail_next(Route::CreateComment, 1, Fault::ReadOnly);

    let error = upsert(&client(&fake), "v").await.unwrap_err();

    assert!(matches!(error, GitHubError::Forbidden { .. }), "{error:?}");
    assert!(error.is_permission_problem());
    let text = error.to_string();
    assert!(
        text.starts_with("GitHub refused the request (403 Forbidden) while creating a comment on acme/widgets#42: Resource not accessible by integration;"),
        "{text}"
    );
    assert!(text.contains("read-only GITHUB_TOKEN"), "{text}");
    assert!(text.contains("pull-requests: write"), "{text}");
    assert_eq!(fake.count("POST", Route::CreateComment), 1);
    assert!(ours(&fake).is_empty());
}

#[tokio::test]
async fn not_found_is_a_permission_problem() {
    let fake = FakeGitHub::start().await;
    fake.fail_next(Route::ListComments, 1, Fault::NotFound);

    let error = upsert(&client(&fake), "v").await.unwrap_err();

    assert!(matches!(error, GitHubError::NotFound { .. }), "{error:?}");
    assert!(error.is_permission_problem());
    assert!(error.to_string().starts_with(
        "GitHub answered 404 Not Found while listing the comments of acme/widgets#42: Not Found;"
    ));
}

#[tokio::test]
async fn a_body_over_the_limit_is_unprocessable_with_githubs_reason() {
    let fake = FakeGitHub::start().await;
    let huge = "x".repeat(70_000);

    let error = upsert(&client(&fake), &huge).await.unwrap_err();

    assert!(
        matches!(error, GitHubError::Unprocessable { .. }),
        "{error:?}"
    );
    assert!(!error.is_permission_problem());
    assert_eq!(
        error.to_string(),
        "GitHub refused the content (422 Unprocessable Entity) while creating a comment on acme/widgets#42: Validation Failed: body is too long (maximum is 65536 characters)"
    );
    assert_eq!(fake.count("POST", Route::CreateComment), 1);
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out() {
    let fake = FakeGitHub::start().await;
    fake.add_comment(OWNER, REPO, PR, BOT_LOGIN, &body("old"));
    fake.fail_next(
        Route::UpdateComment,
        1,
        Fault::SecondaryRateLimit {
            retry_after_secs: 1,
        },
    );
    let started = Instant::now();

    let outcome = upsert(&client(&fake), "new").await.unwrap();

    assert!(matches!(outcome, CommentOutcome::Updated(_)));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "retry-after honoured"
    );
    assert_eq!(fake.count("PATCH", Route::UpdateComment), 2);
    assert_eq!(ours(&fake)[0].body, body("new"));
}

#[tokio::test]
async fn a_primary_rate_limit_waits_for_the_reset() {
    let fake = FakeGitHub::start().await;
    fake.seed_comments(OWNER, REPO, PR, 3);
    fake.fail_next(
        Route::ListComments,
        1,
        Fault::PrimaryRateLimit { reset_in_secs: 1 },
    );
    let started = Instant::now();

    upsert(&client(&fake), "v").await.unwrap();

    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(ours(&fake).len(), 1);
}

#[tokio::test]
async fn a_429_on_create_is_retried_because_nothing_was_written() {
    let fake = FakeGitHub::start().await;
    fake.fail_next(
        Route::CreateComment,
        1,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );

    upsert(&client(&fake), "v").await.unwrap();

    assert_eq!(ours(&fake).len(), 1);
    assert_eq!(fake.count("POST", Route::CreateComment), 2);
}

#[tokio::test]
async fn a_rate_limit_too_long_to_wait_fails_at_once() {
    let fake = FakeGitHub::start().await;
    fake.fail_next(
        Route::ListComments,
        1,
        Fault::SecondaryRateLimit {
            retry_after_secs: 3600,
        },
    );

    let error = upsert(&client(&fake), "v").await.unwrap_err();

    assert!(
        matches!(error, GitHubError::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3600)),
        "{error:?}"
    );
    assert!(!error.is_permission_problem());
    assert!(error.to_string().contains("(retry after 3600s)"));
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let fake = FakeGitHub::start().await;
    fake.echo_token_in_errors(true);
    fake.add_comment(OWNER, REPO, PR, BOT_LOGIN, &body("old"));
    let client = client(&fake);
    let mut errors = Vec::new();

    for (route, fault) in [
        (Route::ListComments, Fault::Unauthorized),
        (Route::UpdateComment, Fault::ReadOnly),
        (Route::ListComments, Fault::NotFound),
        (Route::UpdateComment, Fault::BodyTooLong),
        (Route::UpdateComment, Fault::Status(418, "teapot".into())),
        (
            Route::ListComments,
            Fault::SecondaryRateLimit {
                retry_after_secs: 999,
            },
        ),
    ] {
        fake.fail_next(route, 1, fault);
        errors.push(upsert(&client, "new").await.unwrap_err());
    }
    fake.fail_next(Route::UpdateComment, 4, Fault::ServerError);
    errors.push(upsert(&client, "new").await.unwrap_err());

    // No HTTP answer at all: a port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let offline =
        CommentsClient::with_options(&format!("http://{closed}"), &Secret::new(TOKEN), options())
            .unwrap();
    let network = upsert(&offline, "v").await.unwrap_err();
    assert!(
        matches!(network, GitHubError::Network { .. }),
        "{network:?}"
    );
    assert!(
        network
            .to_string()
            .starts_with("could not reach GitHub while listing the comments of acme/widgets#42: ")
    );
    errors.push(network);

    assert_eq!(errors.len(), 8);
    // The fake really did echo the token: the redaction is what hides it.
    assert!(
        errors[0].to_string().contains("(received Bearer ***)"),
        "{}",
        errors[0]
    );
    for error in &errors {
        assert_no_token(error);
    }
    assert_eq!(format!("{:?}", Secret::new(TOKEN)), "***");
    assert!(!format!("{client:?}").contains(TOKEN));
}

#[tokio::test]
async fn github_enterprise_api_path_works() {
    let fake = FakeGitHub::start_with_prefix("/api/v3").await;
    fake.seed_comments(OWNER, REPO, PR, 150);
    let api_url = fake.api_url();
    assert!(api_url.ends_with("/api/v3"));
    // A trailing slash, as people write it, is fine too.
    let client =
        CommentsClient::with_options(&format!("{api_url}/"), &Secret::new(TOKEN), options())
            .unwrap();

    let created = upsert(&client, "first").await.unwrap();
    let updated = upsert(&client, "second").await.unwrap();

    assert_eq!(updated, CommentOutcome::Updated(created.comment_id()));
    assert_eq!(ours(&fake)[0].body, body("second"));
    let requests = fake.requests();
    assert!(
        requests.iter().all(|r| r.path.starts_with("/api/v3/")),
        "{requests:?}"
    );
    assert!(requests.iter().all(|r| r.status < 400), "{requests:?}");
    assert!(
        requests
            .iter()
            .any(|r| r.path.starts_with("/api/v3/repositories/"))
    );
}

#[tokio::test]
async fn list_comments_returns_every_page_in_order() {
    let fake = FakeGitHub::start().await;
    fake.seed_comments(OWNER, REPO, PR, 250);
    let comments = client(&fake).list_comments(OWNER, REPO, PR).await.unwrap();
    assert_eq!(comments.len(), 250);
    assert!(comments.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(comments[249].body, "Comment 249: looks good to me");
    assert_eq!(fake.count("GET", Route::ListComments), 3);
}

/// Anyone can paste the marker into a comment; only ours is the report. With the Actions
/// token (which may not read `GET /user`) ours are the bot's comments: an impostor's
/// marker comment is neither updated nor deleted, and is named for a warning.
#[tokio::test]
async fn an_impostor_marker_is_left_alone_and_named() {
    let fake = FakeGitHub::start().await;
    let impostor = fake.add_comment(OWNER, REPO, PR, "mallory", &body("all migrations passed"));
    let client = client(&fake);

    let (outcome, foreign) = client
        .upsert_reporting_foreign(OWNER, REPO, PR, &marker(), &body("real verdict"))
        .await
        .unwrap();

    let CommentOutcome::Created(created) = outcome else {
        panic!("{outcome:?}")
    };
    let marked = ours(&fake);
    assert_eq!(marked.len(), 2);
    let untouched = marked.iter().find(|c| c.id == impostor).unwrap();
    assert_eq!(untouched.body, body("all migrations passed"));
    assert_eq!(untouched.updates, 0);
    let mine = marked.iter().find(|c| c.id == created).unwrap();
    assert_eq!(mine.login, BOT_LOGIN);
    assert_eq!(mine.body, body("real verdict"));
    assert_eq!(foreign.len(), 1);
    assert_eq!(
        (foreign[0].id, foreign[0].author.as_str()),
        (impostor, "mallory")
    );
    // The next run updates its own comment, still never the impostor's.
    assert_eq!(
        upsert(&client, "second verdict").await.unwrap(),
        CommentOutcome::Updated(created)
    );
    assert_eq!(fake.comments(OWNER, REPO, PR).len(), 2);
}

/// A personal access token posts as its user: `GET /user` says who, and only that user's
/// marker comment is ours (another user's, or a bot's, is not).
#[tokio::test]
async fn a_user_token_owns_only_its_users_comment() {
    let fake = FakeGitHub::start().await;
    fake.set_user("alice");
    fake.add_comment(OWNER, REPO, PR, BOT_LOGIN, &body("a bot's"));
    fake.add_comment(OWNER, REPO, PR, "bob", &body("bob's"));
    let alices = fake.add_comment(OWNER, REPO, PR, "alice", &body("old"));
    let client = client(&fake);
    assert_eq!(
        client.poster().await,
        migration_check::github::Poster::User("alice".into())
    );
    let (outcome, foreign) = client
        .upsert_reporting_foreign(OWNER, REPO, PR, &marker(), &body("new"))
        .await
        .unwrap();
    assert_eq!(outcome, CommentOutcome::Updated(alices));
    let authors: Vec<&str> = foreign.iter().map(|c| c.author.as_str()).collect();
    assert_eq!(authors, [BOT_LOGIN, "bob"]);
}
