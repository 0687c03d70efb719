//! Commands that ask a running `host serve` through its admin API: `host approve`.

use clap::Args;

use super::CliError;

/// `host approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The connector whose version awaits approval.
    pub name: String,
    /// The daemon's admin API.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub admin: String,
    /// The admin token, if the daemon requires one.
    #[arg(long, value_name = "TOKEN", env = "HOST_ADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Makes the version of `args.name` that awaits approval live.
pub async fn approve_cmd(args: ApproveArgs) -> Result<(), CliError> {
    // The name is one path segment, whatever it holds (`/`, `?`, `%`).
    let mut url = reqwest::Url::parse(&args.admin)
        .map_err(|e| CliError::Usage(format!("--admin `{}` is not a URL: {e}", args.admin)))?;
    url.path_segments_mut()
        .map_err(|()| CliError::Usage(format!("--admin `{}` cannot have a path", args.admin)))?
        .pop_if_empty()
        .extend(["connectors", args.name.as_str(), "approve"]);
    let mut request = reqwest::Client::new().post(url);
    if let Some(token) = &args.token {
        request = request.bearer_auth(token);
    }
    let failed =
        |e: reqwest::Error| CliError::Daemon(format!("cannot reach the daemon's admin API at {}: {e}", args.admin));
    let response = request.send().await.map_err(failed)?;
    let status = response.status();
    let body = response.text().await.map_err(failed)?;
    if status.is_success() {
        println!("{body}");
        return Ok(());
    }
    // The daemon's errors are `{"error": "..."}`.
    let why = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(body);
    Err(CliError::Daemon(format!("the daemon refused: {} ({status})", crate::untrusted::Shown::text(&why))))
}
