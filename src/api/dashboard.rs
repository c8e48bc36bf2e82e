//! The operator's console: one page (`dashboard/index.html`: plain HTML, CSS and JavaScript,
//! built into the binary, nothing fetched from elsewhere) served at `/`. It reads the same admin
//! API an operator's scripts do, every two seconds: the cluster and what each member owns, the
//! bots as LivePerson's Agent Connectors table (deployment status, state and since when, a load
//! bar, KPIs, the last error with its code), each bot's open conversations and error log; and
//! it adds, edits, deletes, starts and stops bots and changes their capacity, showing each
//! validation problem at its field. The page itself needs no token; with one configured it asks
//! for it and keeps it in the tab's session storage.

use actix_web::HttpResponse;

pub const PAGE: &str = include_str!("dashboard/index.html");

pub async fn page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        // Everything the page needs is in it: nothing else may load or run.
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(PAGE)
}
