//! The connections behind a [`RedisStore`](super::RedisStore): a standalone server, a Redis
//! Cluster or a Sentinel-managed master, each kept and re-established its own way.
//!
//! A standalone server's `ConnectionManager` and a cluster's `ClusterConnection` reconnect by
//! themselves. With Sentinel, the master's connection is kept until a call fails on it
//! (connection lost, `READONLY` from a demoted master, a timeout); that call then asks the
//! Sentinels again and retries once. Each master connection found has a generation, so a call
//! that failed on an old one does not throw away the one another call just found.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, ConnectionInfo, ErrorKind, IntoConnectionInfo, RedisConnectionInfo,
    RedisError, RedisFuture, RedisResult, ServerErrorKind, Value,
};

use super::url::{Auth, Node, Topology};
use crate::store::tls::RedisTls;

/// The three topologies behind one interface.
pub(super) enum Backend {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
    Sentinel(Box<SentinelBackend>),
}

/// A master found through Sentinels, found again after a failure.
pub(super) struct SentinelBackend {
    /// Serializes discoveries, so a burst of failing requests asks the Sentinels once.
    sentinels: tokio::sync::Mutex<SentinelClient>,
    /// The current master connection and its generation.
    current: Mutex<Option<(u64, MultiplexedConnection)>>,
    generation: AtomicU64,
    config: AsyncConnectionConfig,
}

/// A cloneable connection of any topology (all three multiplex, so clones are cheap).
#[derive(Clone)]
pub(super) enum Handle {
    Manager(ConnectionManager),
    Cluster(ClusterConnection),
    Plain(MultiplexedConnection),
}

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Handle::Manager(c) => c.req_packed_command(cmd),
            Handle::Cluster(c) => c.req_packed_command(cmd),
            Handle::Plain(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Handle::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Handle::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Handle::Plain(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Handle::Manager(c) => c.get_db(),
            Handle::Cluster(c) => c.get_db(),
            Handle::Plain(c) => c.get_db(),
        }
    }
}

impl Backend {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Backend::Standalone(_) => "standalone",
            Backend::Cluster(_) => "cluster",
            Backend::Sentinel(_) => "sentinel",
        }
    }

    pub(super) async fn connect(
        topology: &Topology,
        tls: Option<&RedisTls>,
        response_timeout: Duration,
        connect_timeout: Duration,
    ) -> RedisResult<Backend> {
        match topology {
            Topology::Standalone { node, auth, db } => {
                let info = node_info(node, auth, *db, tls)?;
                let client = RedisTls::client(tls, info)?;
                // Reconnect quickly and give up quickly: during an outage each call fails in
                // about one connect attempt, and the next call tries again.
                let config = ConnectionManagerConfig::new()
                    .set_response_timeout(Some(response_timeout))
                    .set_connection_timeout(Some(connect_timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(250));
                let manager = ConnectionManager::new_with_config(client, config).await?;
                Ok(Backend::Standalone(manager))
            }
            Topology::Cluster { nodes, auth } => {
                let infos = nodes
                    .iter()
                    .map(|n| node_info(n, auth, 0, tls))
                    .collect::<RedisResult<Vec<_>>>()?;
                let builder = redis::cluster::ClusterClientBuilder::new(infos);
                let client = RedisTls::cluster(tls, builder)
                    .connection_timeout(connect_timeout)
                    .response_timeout(response_timeout)
                    .overall_response_timeout(Some(connect_timeout + response_timeout * 2))
                    .retries(3)
                    .min_retry_wait(10)
                    .max_retry_wait(250)
                    .build()?;
                Ok(Backend::Cluster(client.get_async_connection().await?))
            }
            Topology::Sentinel {
                sentinels,
                master,
                auth,
                db,
            } => {
                let addrs = sentinels
                    .iter()
                    .map(|n| RedisTls::addr(tls, &n.host, n.port));
                let builder =
                    SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?
                        .set_client_to_redis_db(*db);
                let mut builder = RedisTls::sentinel(tls, builder);
                if let Some(user) = &auth.user {
                    builder = builder.set_client_to_redis_username(user);
                }
                if let Some(pass) = &auth.pass {
                    builder = builder.set_client_to_redis_password(pass);
                }
                let backend = SentinelBackend {
                    sentinels: tokio::sync::Mutex::new(builder.build()?),
                    current: Mutex::new(None),
                    generation: AtomicU64::new(0),
                    config: AsyncConnectionConfig::new()
                        .set_response_timeout(Some(response_timeout))
                        .set_connection_timeout(Some(connect_timeout)),
                };
                backend.discover().await?;
                Ok(Backend::Sentinel(Box::new(backend)))
            }
        }
    }

    /// A connection to send on, and (for Sentinel) its generation.
    ///
    /// Asking the Sentinels (a rare event: start-up and failover) is boxed, so the future of
    /// every call stays small: inline, that discovery alone made it about 3 KB, moved into
    /// the store's boxed future on every request.
    pub(super) async fn handle(&self) -> RedisResult<(Handle, u64)> {
        match self {
            Backend::Standalone(m) => Ok((Handle::Manager(m.clone()), 0)),
            Backend::Cluster(c) => Ok((Handle::Cluster(c.clone()), 0)),
            Backend::Sentinel(s) => {
                let (generation, con) = match s.cached() {
                    Some(found) => found,
                    None => Box::pin(s.discover()).await?,
                };
                Ok((Handle::Plain(con), generation))
            }
        }
    }

    /// Called after a failed command: a Sentinel master that failed this way is forgotten, so
    /// the next call asks the Sentinels again. The other topologies reconnect by themselves.
    pub(super) fn failed(&self, generation: u64, e: &RedisError) {
        if let Backend::Sentinel(s) = self {
            let rediscover = e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_unrecoverable_error()
                || matches!(
                    e.kind(),
                    ErrorKind::Server(ServerErrorKind::ReadOnly)
                        | ErrorKind::Server(ServerErrorKind::MasterDown)
                );
            if rediscover {
                s.forget(generation);
            }
        }
    }
}

impl SentinelBackend {
    fn cached(&self) -> Option<(u64, MultiplexedConnection)> {
        self.current.lock().ok().and_then(|c| c.clone())
    }

    /// Asks the Sentinels for the master and connects to it, once for a burst of callers.
    async fn discover(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        let mut sentinels = self.sentinels.lock().await;
        // Someone else may have found the master while this call waited.
        if let Some(c) = self.cached() {
            return Ok(c);
        }
        let client = sentinels.async_get_client().await?;
        let con = client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut current) = self.current.lock() {
            *current = Some((generation, con.clone()));
        }
        Ok((generation, con))
    }

    fn forget(&self, generation: u64) {
        if let Ok(mut current) = self.current.lock() {
            if current.as_ref().is_some_and(|(g, _)| *g == generation) {
                *current = None;
            }
        }
    }
}

fn node_info(
    node: &Node,
    auth: &Auth,
    db: i64,
    tls: Option<&RedisTls>,
) -> RedisResult<ConnectionInfo> {
    let mut redis = RedisConnectionInfo::default().set_db(db);
    if let Some(user) = &auth.user {
        redis = redis.set_username(user);
    }
    if let Some(pass) = &auth.pass {
        redis = redis.set_password(pass);
    }
    Ok(RedisTls::addr(tls, &node.host, node.port)
        .into_connection_info()?
        .set_redis_settings(redis))
}
