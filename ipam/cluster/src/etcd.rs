//! [`Store`] on etcd v3, through the `etcd-client` crate on a
//! current-thread runtime. Every call shares one deadline (the config's
//! `timeout`), and transient failures (no leader, a member down) are
//! retried until it: a client that lost a member mid-call gets its answer
//! from another one.

use crate::config::EtcdSettings;
use crate::store::{Cond, Kv, Op, Outcome, Store, StoreError, Txn};
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, TxnOp, TxnOpResponse};
use std::future::Future;
use std::time::{Duration, Instant};

/// Keys per answer of `list_all`: far below gRPC's 4 MB answer limit even
/// with values of a few hundred bytes.
const PAGE: i64 = 256;

/// Between retries: long enough for an election at test timeouts, short
/// enough that a leader change costs a pod little.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

pub struct Etcd {
    settings: EtcdSettings,
    deadline: Instant,
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
}

impl Etcd {
    /// No connection is made until the first call.
    pub fn new(settings: EtcdSettings, timeout: Duration) -> Result<Etcd, StoreError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Permanent(format!("runtime: {e}")))?;
        Ok(Etcd { settings, deadline: Instant::now() + timeout, rt, client: None })
    }

    /// Give the next calls a fresh `timeout` (a long-running caller, such as the heartbeat).
    pub fn renew(&mut self, timeout: Duration) {
        self.deadline = Instant::now() + timeout;
    }

    /// A lease of `ttl` seconds: its id.
    pub fn lease_grant(&mut self, ttl: i64) -> Result<i64, StoreError> {
        self.call(|mut c| async move { c.lease_grant(ttl, None).await }).map(|r| r.id())
    }

    /// Put `key` attached to `lease`: etcd deletes it when the lease expires.
    pub fn put_leased(&mut self, key: &str, value: &[u8], lease: i64) -> Result<(), StoreError> {
        let (key, value) = (key.to_string(), value.to_vec());
        self.call(|mut c| {
            let (key, value) = (key.clone(), value.clone());
            async move { c.put(key, value, Some(PutOptions::new().with_lease(lease))).await }
        })
        .map(|_| ())
    }

    /// One keep-alive of `lease`: the TTL etcd granted, 0 when the lease is gone.
    pub fn lease_keep_alive(&mut self, lease: i64) -> Result<i64, StoreError> {
        self.call(|mut c| async move {
            let (mut keeper, mut stream) = c.lease_keep_alive(lease).await?;
            keeper.keep_alive().await?;
            Ok(stream.message().await?.map_or(0, |r| r.ttl()))
        })
    }

    fn remaining(&self) -> Result<Duration, StoreError> {
        self.deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero()).ok_or_else(|| {
            StoreError::Transient(format!("no answer within the timeout from {:?}", self.settings.endpoints))
        })
    }

    fn options(&self, left: Duration) -> Result<ConnectOptions, StoreError> {
        let mut o = ConnectOptions::new().with_connect_timeout(left).with_timeout(left);
        if let (Some(user), Some(file)) = (&self.settings.username, &self.settings.password_file) {
            let password = std::fs::read_to_string(file)
                .map_err(|e| StoreError::Permanent(format!("etcd_password_file {}: {e}", file.display())))?;
            o = o.with_user(user.clone(), password.trim_end_matches(['\r', '\n']).to_string());
        }
        tls(o, &self.settings)
    }

    /// Run `op` with a connected client, retrying transient failures until the deadline.
    fn call<T, F, Fut>(&mut self, op: F) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        loop {
            let left = self.remaining()?;
            let result = match self.client.clone() {
                Some(c) => self.rt.block_on(async { tokio::time::timeout(left, op(c)).await }),
                None => {
                    let options = self.options(left)?;
                    let endpoints = self.settings.endpoints.clone();
                    let connected = self.rt.block_on(async {
                        tokio::time::timeout(left, Client::connect(endpoints, Some(options))).await
                    });
                    match connected {
                        Ok(Ok(c)) => {
                            self.client = Some(c);
                            continue;
                        }
                        Ok(Err(e)) => Ok(Err(e)),
                        Err(elapsed) => Err(elapsed),
                    }
                }
            };
            let err = match result {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) => classify(e),
                Err(_) => StoreError::Transient("timed out".into()),
            };
            match err {
                StoreError::Permanent(_) => return Err(err),
                StoreError::Transient(msg) => {
                    tracing::debug!("etcd: {msg}; retrying");
                    let pause = RETRY_PAUSE.min(self.remaining().map_err(|_| StoreError::Transient(msg.clone()))?);
                    std::thread::sleep(pause);
                }
            }
        }
    }
}

fn tls(o: ConnectOptions, s: &EtcdSettings) -> Result<ConnectOptions, StoreError> {
    use etcd_client::{Certificate, Identity, TlsOptions};
    if s.ca_cert_file.is_none() && s.cert_file.is_none() {
        return Ok(o);
    }
    let read =
        |p: &std::path::Path| std::fs::read(p).map_err(|e| StoreError::Permanent(format!("{}: {e}", p.display())));
    let mut t = TlsOptions::new();
    if let Some(ca) = &s.ca_cert_file {
        t = t.ca_certificate(Certificate::from_pem(read(ca)?));
    }
    if let (Some(c), Some(k)) = (&s.cert_file, &s.key_file) {
        t = t.identity(Identity::from_pem(read(c)?, read(k)?));
    }
    Ok(o.with_tls(t))
}

/// Credentials, permissions and bad requests do not get better with a retry.
fn classify(e: etcd_client::Error) -> StoreError {
    match &e {
        etcd_client::Error::GRpcStatus(s) => {
            // gRPC codes: 3 invalid argument, 7 permission denied, 16 unauthenticated.
            let code = s.code() as i32;
            if [3, 7, 16].contains(&code) {
                StoreError::Permanent(s.message().to_string())
            } else {
                StoreError::Transient(s.message().to_string())
            }
        }
        etcd_client::Error::InvalidArgs(m) => StoreError::Permanent(m.clone()),
        _ => StoreError::Transient(e.to_string()),
    }
}

fn kv(k: &etcd_client::KeyValue) -> Kv {
    Kv {
        key: String::from_utf8_lossy(k.key()).into_owned(),
        value: k.value().to_vec(),
        create_revision: k.create_revision(),
        mod_revision: k.mod_revision(),
    }
}

impl Store for Etcd {
    fn get(&mut self, key: &str) -> Result<Option<Kv>, StoreError> {
        let key = key.to_string();
        self.call(|mut c| {
            let key = key.clone();
            async move { c.get(key, None).await }
        })
        .map(|r| r.kvs().first().map(kv))
    }

    fn list(&mut self, prefix: &str, keys_only: bool) -> Result<Vec<Kv>, StoreError> {
        let prefix = prefix.to_string();
        self.call(|mut c| {
            let prefix = prefix.clone();
            let mut o = GetOptions::new().with_prefix();
            if keys_only {
                o = o.with_keys_only();
            }
            async move { c.get(prefix, Some(o)).await }
        })
        .map(|r| r.kvs().iter().map(kv).collect())
    }

    fn list_all(&mut self, prefix: &str) -> Result<Vec<Kv>, StoreError> {
        let end = prefix_end(prefix.as_bytes());
        let (mut from, mut revision, mut out) = (prefix.as_bytes().to_vec(), 0, Vec::new());
        loop {
            let page = self.call(|mut c| {
                let (from, end) = (from.clone(), end.clone());
                let o = GetOptions::new().with_range(end).with_limit(PAGE).with_revision(revision);
                async move { c.get(from, Some(o)).await }
            })?;
            if revision == 0 {
                // The later pages read the store as the first one saw it.
                revision = page.header().map_or(0, |h| h.revision());
            }
            out.extend(page.kvs().iter().map(kv));
            match page.kvs().last() {
                Some(last) if page.more() => from = [last.key(), &[0]].concat(),
                _ => return Ok(out),
            }
        }
    }

    fn txn(&mut self, txn: Txn) -> Result<Outcome, StoreError> {
        let response = self.call(|mut c| {
            let t = etcd_client::Txn::new()
                .when(txn.when.iter().map(compare).collect::<Vec<_>>())
                .and_then(txn.then.iter().map(op).collect::<Vec<_>>())
                .or_else(txn.read_on_failure.iter().map(|k| TxnOp::get(k.as_str(), None)).collect::<Vec<_>>());
            async move { c.txn(t).await }
        })?;
        if response.succeeded() {
            return Ok(Outcome::Committed(response.header().map_or(0, |h| h.revision())));
        }
        let reads = response
            .op_responses()
            .iter()
            .map(|r| match r {
                TxnOpResponse::Get(g) => g.kvs().first().map(kv),
                _ => None,
            })
            .collect();
        Ok(Outcome::Failed(reads))
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        // A linearizable read needs a quorum, as a write does.
        self.get(crate::keys::PREFIX).map(|_| ())
    }
}

/// The first key after every key that starts with `prefix`.
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // all keys
}

fn compare(c: &Cond) -> Compare {
    match c {
        Cond::Absent(k) => Compare::create_revision(k.as_str(), CompareOp::Equal, 0),
        Cond::CreatedAt(k, r) => Compare::create_revision(k.as_str(), CompareOp::Equal, *r),
        Cond::ModifiedAt(k, r) => Compare::mod_revision(k.as_str(), CompareOp::Equal, *r),
        Cond::ValueIs(k, v) => Compare::value(k.as_str(), CompareOp::Equal, v.clone()),
        Cond::Present(k) => Compare::create_revision(k.as_str(), CompareOp::Greater, 0),
        // Over a range every key must match, and no key at all compares as absent.
        Cond::NoneUnder(p) => Compare::create_revision(p.as_str(), CompareOp::Equal, 0).with_prefix(),
    }
}

fn op(o: &Op) -> TxnOp {
    match o {
        Op::Put(k, v) => TxnOp::put(k.as_str(), v.clone(), None),
        Op::Delete(k) => TxnOp::delete(k.as_str(), None),
    }
}
