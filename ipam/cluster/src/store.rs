//! The one interface allocation needs from a store. etcd implements it
//! (`crate::etcd`); a Kubernetes-API backend can implement it later without
//! touching allocation: every operation maps onto a compare-and-swap store.

/// A stored key with the revisions that compare-and-swap works on.
#[derive(Debug, Clone)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    /// The revision of the write that created the key; keys written in one
    /// transaction share it, which is how a release recognises its own records.
    pub create_revision: i64,
    pub mod_revision: i64,
}

/// A condition of a transaction.
#[derive(Debug, Clone)]
pub enum Cond {
    Absent(String),
    CreatedAt(String, i64),
    ModifiedAt(String, i64),
    ValueIs(String, Vec<u8>),
    /// The key exists.
    Present(String),
    /// No key starts with this prefix (a range compare).
    NoneUnder(String),
}

#[derive(Debug, Clone)]
pub enum Op {
    Put(String, Vec<u8>),
    Delete(String),
}

/// All of `then` if every condition holds, else nothing and the current
/// values of `read_on_failure`, so the caller learns why in the same round trip.
#[derive(Debug, Clone, Default)]
pub struct Txn {
    pub when: Vec<Cond>,
    pub then: Vec<Op>,
    pub read_on_failure: Vec<String>,
}

#[derive(Debug)]
pub enum Outcome {
    /// Committed at this store revision (the `create_revision` of keys it created).
    Committed(i64),
    /// A condition failed; the keys of `read_on_failure`, in order.
    Failed(Vec<Option<Kv>>),
}

#[derive(Debug)]
pub enum StoreError {
    /// Unreachable, no leader, timed out: may work on retry.
    Transient(String),
    /// Refused for good (credentials, permissions, a malformed request).
    Permanent(String),
}

pub trait Store {
    fn get(&mut self, key: &str) -> Result<Option<Kv>, StoreError>;
    /// Every key under `prefix`; `keys_only` leaves values empty.
    fn list(&mut self, prefix: &str, keys_only: bool) -> Result<Vec<Kv>, StoreError>;
    fn txn(&mut self, txn: Txn) -> Result<Outcome, StoreError>;
    /// Every key and value under `prefix`, however many: in pages where the
    /// store limits the size of one answer, all read at one revision.
    fn list_all(&mut self, prefix: &str) -> Result<Vec<Kv>, StoreError> {
        self.list(prefix, false)
    }
    /// Whether the store can serve a write now (a quorum read).
    fn ping(&mut self) -> Result<(), StoreError>;
}

impl From<StoreError> for crate::Error {
    fn from(e: StoreError) -> crate::Error {
        match e {
            StoreError::Transient(msg) => crate::Error::Unavailable { msg },
            StoreError::Permanent(msg) => crate::Error::Store { msg },
        }
    }
}
