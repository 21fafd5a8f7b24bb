//! `vodsnap-floor`: the floor server of `cargo xtask bench` (issue 12).
//!
//! The least an HTTP service can do to answer vodsnap's two reads: axum on
//! the same runtime, the same PostgreSQL driver and pool settings
//! (`vodsnap_adapter_postgres::connect`), and the very statements vodsnap
//! runs (`LIST_BY_ASSET` and `DETAILS`, taken from the adapter by name, so
//! they cannot drift), one handler each; no authentication, no tracing, no
//! metrics, no validation beyond parsing the query, and JSON built straight
//! from the rows. vodsnap's rate over this one's, same data and same run,
//! is what its own work costs beyond the HTTP exchange and the query.
//!
//! `vodsnap-floor --listen 127.0.0.1:PORT --database-url URL`; answers
//! `GET /readyz` (so that `vodsnap-server-process` can wait for it),
//! `GET /v1/{p}/asset/thumbnails?asset_id=..` and
//! `GET /v1/{p}/asset/thumbnail/details?task_id=..`.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use clap::Parser;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::types::Json;

#[derive(Debug, Parser)]
#[command(
    name = "vodsnap-floor",
    about = "The bench's floor server (no auth, same SQL)"
)]
struct Args {
    /// Address to listen on.
    #[arg(long)]
    listen: String,
    /// PostgreSQL URL (the bench's scratch database).
    #[arg(long)]
    database_url: String,
    /// Pool size; the bench passes what vodsnap runs with.
    #[arg(long, default_value_t = 16)]
    database_max_connections: u32,
}

#[derive(Clone)]
struct Floor {
    pool: PgPool,
    list_by_asset: &'static str,
    details: &'static str,
}

fn statement(name: &str) -> Result<&'static str> {
    vodsnap_adapter_postgres::hot_statements()
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, sql)| *sql)
        .with_context(|| format!("the adapter has no statement {name}"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = async {
        let floor = Floor {
            pool: vodsnap_adapter_postgres::connect(
                &args.database_url,
                args.database_max_connections,
            )
            .await?,
            list_by_asset: statement("LIST_BY_ASSET")?,
            details: statement("DETAILS")?,
        };
        let app = Router::new()
            .route("/readyz", get(|| async { "ok" }))
            .route("/v1/{project}/asset/thumbnails", get(list))
            .route("/v1/{project}/asset/thumbnail/details", get(details))
            .with_state(floor);
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        println!("vodsnap-floor listening on {}", args.listen);
        axum::serve(listener, app).await.context("serving")
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    match runtime
        .map_err(anyhow::Error::from)
        .and_then(|r| r.block_on(run))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vodsnap-floor: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn failed(err: impl std::fmt::Display) -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
}

fn missing(name: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{name} is required")).into_response()
}

type ListRow = (
    i64,
    Option<String>,
    Option<String>,
    Option<Json<Value>>,
    Option<i32>,
    Option<DateTime<Utc>>,
);

async fn list(
    State(floor): State<Floor>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(asset) = query.get("asset_id") else {
        return missing("asset_id");
    };
    let rows: Vec<ListRow> = match sqlx::query_as(floor.list_by_asset)
        .bind(project.as_str())
        .bind(10_i64)
        .bind(0_i64)
        .bind(asset)
        .fetch_all(&floor.pool)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return failed(e),
    };
    let total = rows.first().map_or(0, |r| r.0);
    let items: Vec<Value> = rows
        .into_iter()
        .filter_map(|(_, task, asset, para, count, created)| {
            Some(json!({
                "task_id": task?,
                "asset_id": asset?,
                "thumbnail_para": para?.0,
                "snapshot_count": count?,
                "created_at": created?.to_rfc3339(),
            }))
        })
        .collect();
    axum::Json(json!({ "total": total, "thumbnails": items })).into_response()
}

async fn details(
    State(floor): State<Floor>,
    Path(project): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(task) = query.get("task_id") else {
        return missing("task_id");
    };
    let rows: Vec<(i32, Option<i32>, Option<String>)> = match sqlx::query_as(floor.details)
        .bind(project.as_str())
        .bind(task)
        .bind(20_i64)
        .bind(0_i64)
        .fetch_all(&floor.pool)
        .await
    {
        Ok(rows) => rows,
        Err(e) => return failed(e),
    };
    let Some(total) = rows.first().map(|r| r.0) else {
        return (StatusCode::NOT_FOUND, "no such task").into_response();
    };
    let items: Vec<Value> = rows
        .into_iter()
        .filter_map(|(_, offset, key)| Some(json!({ "offset": offset?, "object_key": key? })))
        .collect();
    axum::Json(json!({ "total": total, "thumbnails": items })).into_response()
}
