//! The platform simulator: a local messaging platform that speaks the Messaging Agent API
//! (`../shared/spec/liveperson-agent-api.md`), faithful enough for LivePerson's Node Agent SDK.
//!
//! One origin (HTTPS with a self-signed certificate, or plain HTTP for botvisor's own tests)
//! serves CSDS, login, refresh, logout and the websocket; a second, plain-HTTP listener serves
//! the control API. Start it inside an actix system with [`start`].

pub mod config;
pub mod context;
pub mod control;
pub mod frames;
pub mod functions;
pub mod google;
pub mod http;
pub mod load;
pub mod observe;
pub mod platform;
pub mod provision;
pub mod refusals;
pub mod session_log;
pub mod state;
pub mod timers;
pub mod tls;
pub mod traffic;
pub mod validate;
pub mod vendors;
pub mod ws;

use std::net::SocketAddr;
use std::path::PathBuf;

use actix_web::{web, App, HttpServer};
use serde_json::{json, Value};

pub use config::SimConfig;
use context::Sim;
use state::{Shared, SimState};

/// A running simulator.
pub struct SimHandle {
    pub account: String,
    pub platform_addr: SocketAddr,
    pub control_addr: SocketAddr,
    pub tls: bool,
    /// Where the certificate was written (TLS with `ca_out`).
    pub ca_path: Option<PathBuf>,
    /// The certificate's PEM (TLS).
    pub cert_pem: Option<String>,
    /// The fakes of Google's APIs, when configured.
    pub google: Option<web::Data<google::GoogleFake>>,
    /// The fakes of Lex, Watson and Direct Line, when configured.
    pub vendors: Option<web::Data<vendors::VendorFakes>>,
    pub state: Shared,
    sim: web::Data<Sim>,
    servers: Vec<actix_web::dev::ServerHandle>,
}

impl SimHandle {
    /// `https://127.0.0.1:port` (or `http://` in plain mode).
    pub fn platform_url(&self) -> String {
        format!("{}://{}", if self.tls { "https" } else { "http" }, self.platform_addr)
    }

    pub fn control_url(&self) -> String {
        format!("http://{}", self.control_addr)
    }

    /// Makes sure a bot's agent user can log in: its skill exists, and the user is created or
    /// given the password (see [`provision::provide_bot_user`]).
    pub fn provide_bot_user(&self, user: &provision::BotUser) -> Result<provision::Provided, provision::ProvisionError> {
        provision::provide_bot_user(&self.state, user)
    }

    /// The one line `botvisor simulate` prints at start.
    pub fn announcement(&self) -> Value {
        let mut line = json!({
            "account": self.account,
            "platform": self.platform_url(),
            "csds_domain": self.platform_addr.to_string(),
            "control": self.control_url(),
            "ca": self.ca_path,
        });
        if let Some(google) = &self.google {
            line["google_key"] = json!(google.key_path);
        }
        if let Some(vendors) = &self.vendors {
            let origin = self.platform_url();
            let c = &vendors.config;
            line["lex"] = json!({"endpoint": origin, "access_key_id": c.aws_access_key_id, "secret_access_key": c.aws_secret_access_key});
            line["watson"] = json!({"url": format!("{origin}/instances/sim"), "token_url": format!("{origin}/identity/token"), "api_key": c.watson_api_key});
            line["directline"] = json!({"endpoint": format!("{origin}/v3/directline"), "secret": c.directline_secret});
        }
        line
    }

    /// The service-account key the Google fakes made (its `token_uri` is theirs).
    pub fn google_key_json(&self) -> Option<String> {
        self.google.as_ref().map(|google| google.made.key_json.clone())
    }

    /// Stops the traffic generator, closes every websocket (1001, going away) and stops the
    /// listeners.
    pub async fn stop(self) {
        if let Some(traffic) = self.sim.traffic.lock().expect("traffic lock").take() {
            traffic.stop();
        }
        {
            let mut state = self.state.lock().expect("state lock");
            let conns: Vec<state::ConnId> = state.conns.keys().copied().collect();
            for conn in conns {
                state.send(conn, state::Outgoing::Close(1001, "the simulator is stopping".into()));
                state.disconnect(conn);
            }
        }
        for server in self.servers {
            server.stop(true).await;
        }
    }
}

/// Starts the simulator's listeners on the current actix system.
pub async fn start(config: SimConfig) -> Result<SimHandle, String> {
    let problems = config.validate("simulator");
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        return Err(format!("the simulator configuration is not valid:\n  {}", list.join("\n  ")));
    }
    let state = SimState::new(config.clone()).shared();
    let tls = if config.plain_http { None } else { Some(tls::self_signed(config.ca_out.as_deref())?) };

    // Bind first: the CSDS document names the actual port.
    let listener =
        std::net::TcpListener::bind(config.platform_addr).map_err(|e| format!("cannot listen on {}: {e}", config.platform_addr))?;
    let platform_addr = listener.local_addr().map_err(|e| e.to_string())?;
    let sim = web::Data::new(Sim {
        account: config.account.clone(),
        config: config.clone(),
        state: state.clone(),
        host: platform_addr.to_string(),
        traffic: std::sync::Mutex::new(None),
    });

    let google = match &config.google {
        Some(google_config) => {
            let origin = format!("{}://{platform_addr}", if tls.is_some() { "https" } else { "http" });
            let key_dir = config.ca_out.as_deref().map(|ca| ca.parent().unwrap_or(std::path::Path::new("")).to_path_buf());
            Some(web::Data::new(google::GoogleFake::start(google_config.clone(), &origin, key_dir.as_deref())?))
        }
        None => None,
    };

    let vendor_fakes = match &config.vendors {
        Some(vendors_config) => {
            let origin = format!("{}://{platform_addr}", if tls.is_some() { "https" } else { "http" });
            Some(web::Data::new(vendors::VendorFakes::start(vendors_config.clone(), &origin)?))
        }
        None => None,
    };

    let platform_sim = sim.clone();
    let platform_google = google.clone();
    let platform_vendors = vendor_fakes.clone();
    let platform = HttpServer::new(move || {
        App::new()
            .configure(|cfg| {
                // Before Google's `/v3/…`: Direct Line's `/v3/directline/…` and `/v3/conversations/…`.
                if let Some(fakes) = &platform_vendors {
                    vendors::routes(cfg, fakes.clone());
                }
                if let Some(fake) = &platform_google {
                    google::routes(cfg, fake.clone());
                }
            })
            .app_data(platform_sim.clone())
            .app_data(web::PayloadConfig::new(64 * 1024))
            .route("/api/account/{account}/service/baseURI.json", web::get().to(http::csds))
            .route("/api/account/{account}/login", web::post().to(http::login))
            .route("/api/account/{account}/refresh", web::post().to(http::refresh))
            .route("/api/account/{account}/logout", web::post().to(http::logout))
            .route("/ws_api/account/{account}/messaging/brand/{bearer}", web::get().to(http::websocket))
            .route("/api/account/{account}/configuration/le-users/skills", web::get().to(http::skills))
    })
    .workers(1)
    // Frames go out at once (no Nagle wait behind an unacknowledged one).
    .tcp_nodelay(true)
    .shutdown_timeout(1)
    .disable_signals();
    let platform = match &tls {
        Some(tls) => platform.listen_rustls_0_23(listener, tls.config.clone()),
        None => platform.listen(listener),
    }
    .map_err(|e| format!("cannot serve on {platform_addr}: {e}"))?
    .run();

    let control_sim = sim.clone();
    let control_google = google.clone();
    let control_vendors = vendor_fakes.clone();
    let control = HttpServer::new(move || {
        App::new()
            .app_data(control_sim.clone())
            .app_data(web::PayloadConfig::new(1024 * 1024))
            .configure(functions::routes)
            .configure(|cfg| {
                if let Some(fake) = &control_google {
                    google::control_routes(cfg, fake.clone());
                }
                if let Some(fakes) = &control_vendors {
                    vendors::control_routes(cfg, fakes.clone());
                }
            })
            .configure(control::routes)
    })
    .workers(1)
    .shutdown_timeout(1)
    .disable_signals()
    .bind(config.control_addr)
    .map_err(|e| format!("cannot listen on {}: {e}", config.control_addr))?;
    let control_addr = *control.addrs().first().ok_or("the control API has no address")?;
    let control = control.run();

    let servers = vec![platform.handle(), control.handle()];
    actix_rt::spawn(platform);
    actix_rt::spawn(control);
    if let Some(traffic) = &config.traffic {
        let handle = traffic::start(state.clone(), traffic.clone());
        *sim.traffic.lock().expect("traffic lock") = Some(handle);
    }
    Ok(SimHandle {
        account: config.account,
        platform_addr,
        control_addr,
        tls: tls.is_some(),
        ca_path: if tls.is_some() { config.ca_out } else { None },
        cert_pem: tls.map(|t| t.cert_pem),
        google,
        vendors: vendor_fakes,
        state,
        sim,
        servers,
    })
}
