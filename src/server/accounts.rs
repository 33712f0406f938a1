//! Which store answers a request: one store for every request, or one per
//! account, chosen by the request's `X-CareHQ-AccountId`, with the accounts
//! other nodes of a fleet hold named in the refusal.
//!
//! Routing comes before authentication, as at a load balancer: a stranger
//! learns which node holds an account, never anything in it.

use std::collections::BTreeMap;

use super::metrics::Gauges;
use super::served::ServedStore;

/// Another node of a fleet, as a refusal names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeAddress {
    /// The node's name in the assignment.
    pub name: String,
    /// Where clients reach it (`http://host:port`).
    pub url: String,
}

/// The stores a server answers from.
#[derive(Clone)]
pub struct ServedAccounts {
    held: Held,
    /// Accounts this node does not hold, with the nodes that do.
    elsewhere: BTreeMap<String, Vec<NodeAddress>>,
}

#[derive(Clone)]
enum Held {
    /// One store answers every request (its account is the keys file's).
    One(ServedStore),
    /// A store per account.
    Many(BTreeMap<String, ServedStore>),
}

/// Why no store here answers a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Misrouted {
    /// No `X-CareHQ-AccountId`, on a node holding several accounts.
    NoAccount,
    /// Another node holds the account.
    HeldElsewhere { account: String, nodes: Vec<NodeAddress> },
    /// No node holds the account.
    Unknown { account: String },
}

impl Misrouted {
    /// The HTTP status of the refusal: 400, 421 (Misdirected Request) or
    /// 404.
    pub(crate) fn status(&self) -> u16 {
        match self {
            Misrouted::NoAccount => 400,
            Misrouted::HeldElsewhere { .. } => 421,
            Misrouted::Unknown { .. } => 404,
        }
    }

    /// What the refusal says.
    pub(crate) fn hint(&self) -> String {
        match self {
            Misrouted::NoAccount => {
                "This node holds several accounts; name the account in the X-CareHQ-AccountId header.".into()
            }
            Misrouted::HeldElsewhere { account, nodes } => {
                let named: Vec<String> = nodes.iter().map(|node| format!("{} ({})", node.name, node.url)).collect();
                format!("This node does not hold account {account:?}; send its requests to {}.", named.join(" or "))
            }
            Misrouted::Unknown { account } => {
                format!("No node of this fleet holds account {account:?}; check X-CareHQ-AccountId.")
            }
        }
    }
}

impl ServedAccounts {
    /// Several accounts, each added with [`ServedAccounts::with_account`].
    pub fn many() -> ServedAccounts {
        ServedAccounts { held: Held::Many(BTreeMap::new()), elsewhere: BTreeMap::new() }
    }

    /// Adds an account this node holds (replacing one of the same name).
    ///
    /// # Panics
    /// On a server of one store (made from a [`ServedStore`]).
    pub fn with_account(mut self, account: impl Into<String>, store: ServedStore) -> ServedAccounts {
        let account = account.into();
        self.elsewhere.remove(&account);
        match &mut self.held {
            Held::Many(stores) => {
                stores.insert(account, store);
            }
            Held::One(_) => panic!("with_account on a server of one store; start from ServedAccounts::many()"),
        }
        self
    }

    /// Names the nodes that hold `account`, which this node does not.
    pub fn held_elsewhere(mut self, account: impl Into<String>, nodes: Vec<NodeAddress>) -> ServedAccounts {
        let account = account.into();
        if !self.holds(&account) {
            self.elsewhere.insert(account, nodes);
        }
        self
    }

    /// Whether this node holds `account` (a single store holds any).
    pub fn holds(&self, account: &str) -> bool {
        match &self.held {
            Held::One(_) => true,
            Held::Many(stores) => stores.contains_key(account),
        }
    }

    /// The accounts held, in order (none listed for a single store).
    pub fn accounts(&self) -> impl Iterator<Item = &str> {
        let many = match &self.held {
            Held::One(_) => None,
            Held::Many(stores) => Some(stores.keys().map(String::as_str)),
        };
        many.into_iter().flatten()
    }

    /// Whether this serves one store for every request.
    pub(crate) fn is_single(&self) -> bool {
        matches!(self.held, Held::One(_))
    }

    /// The store that answers a request naming `account`.
    pub(crate) fn route(&self, account: Option<&str>) -> Result<&ServedStore, Misrouted> {
        let stores = match &self.held {
            Held::One(store) => return Ok(store),
            Held::Many(stores) => stores,
        };
        let account = account.ok_or(Misrouted::NoAccount)?;
        if let Some(store) = stores.get(account) {
            return Ok(store);
        }
        Err(match self.elsewhere.get(account) {
            Some(nodes) => Misrouted::HeldElsewhere { account: account.to_owned(), nodes: nodes.clone() },
            None => Misrouted::Unknown { account: account.to_owned() },
        })
    }

    fn stores(&self) -> Box<dyn Iterator<Item = (Option<&str>, &ServedStore)> + '_> {
        match &self.held {
            Held::One(store) => Box::new(std::iter::once((None, store))),
            Held::Many(stores) => Box::new(stores.iter().map(|(account, store)| (Some(account.as_str()), store))),
        }
    }

    /// Messages in every store held.
    pub(crate) fn message_count(&self) -> u64 {
        self.stores().map(|(_, store)| store.reads.message_count()).sum()
    }

    /// Whether every store is ready to answer.
    pub(crate) fn is_ready(&self) -> bool {
        self.stores().all(|(_, store)| store.is_ready())
    }

    /// Whether any store takes writes.
    pub(crate) fn takes_writes(&self) -> bool {
        self.stores().any(|(_, store)| store.writes.is_some())
    }

    /// Sets every store's gauges, labelled by account when there are many.
    pub(crate) fn set_gauges(&self, gauges: &mut Gauges) {
        for (account, store) in self.stores() {
            let Some(set) = &store.gauges else { continue };
            match account {
                None => set(gauges),
                Some(account) => gauges.for_account(account, |gauges| set(gauges)),
            }
        }
    }
}

impl From<ServedStore> for ServedAccounts {
    fn from(store: ServedStore) -> ServedAccounts {
        ServedAccounts { held: Held::One(store), elsewhere: BTreeMap::new() }
    }
}

impl From<std::sync::Arc<dyn crate::engine::Engine>> for ServedAccounts {
    fn from(engine: std::sync::Arc<dyn crate::engine::Engine>) -> ServedAccounts {
        ServedStore::read_only(engine).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn store(messages: usize) -> ServedStore {
        let engine: Arc<dyn crate::engine::Engine> = Arc::new(crate::ReferenceEngine::new(
            (0..messages).map(|n| crate::Message::with_id(format!("m{n}"))).collect(),
        ));
        ServedStore::read_only(engine)
    }

    #[test]
    fn requests_go_to_their_accounts_store_or_are_told_where_it_is() {
        let elsewhere = vec![NodeAddress { name: "n2".into(), url: "http://10.0.0.2:8080".into() }];
        let accounts = ServedAccounts::many()
            .with_account("a", store(1))
            .with_account("b", store(2))
            .held_elsewhere("c", elsewhere.clone())
            .held_elsewhere("a", elsewhere.clone());
        assert_eq!(accounts.route(Some("a")).unwrap().reads.message_count(), 1, "a held here stays here");
        assert_eq!(accounts.route(Some("b")).unwrap().reads.message_count(), 2);
        let misrouted = accounts.route(Some("c")).err().unwrap();
        assert_eq!(misrouted.status(), 421);
        assert!(misrouted.hint().contains("n2 (http://10.0.0.2:8080)"), "{}", misrouted.hint());
        assert_eq!(accounts.route(Some("d")).err().unwrap().status(), 404);
        assert_eq!(accounts.route(None).err().unwrap(), Misrouted::NoAccount);
        assert_eq!(accounts.message_count(), 3);
        assert_eq!(accounts.accounts().collect::<Vec<_>>(), ["a", "b"]);
        let single = ServedAccounts::from(store(4));
        assert_eq!(single.route(Some("anything")).unwrap().reads.message_count(), 4);
        assert_eq!(single.route(None).unwrap().reads.message_count(), 4);
    }
}
