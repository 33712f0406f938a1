//! The assignment file: which nodes of a fleet hold which accounts.
//!
//! ```json
//! {
//!   "nodes": {"n1": "http://10.0.0.1:8080", "n2": "http://10.0.0.2:8080"},
//!   "accounts": {"acme": ["n1", "n2"], "globex": ["n2"]}
//! }
//! ```
//!
//! Every node is given the same file and its own name (`--node`); it holds
//! the accounts listed with its name and names the others' nodes when asked
//! for their accounts.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use crate::server::NodeAddress;

/// The longest account name (a subject token and a directory name).
const MAX_ACCOUNT_NAME: usize = 64;

/// The most accounts an assignment names.
const MAX_ACCOUNTS: usize = 100_000;

/// Refuses an account name that cannot be a NATS subject token and a
/// directory name: 1 to 64 ASCII letters, digits, `-` or `_`.
pub fn check_account_name(account: &str) -> Result<(), String> {
    let fits = !account.is_empty()
        && account.len() <= MAX_ACCOUNT_NAME
        && account.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_');
    if fits {
        Ok(())
    } else {
        Err(format!(
            "the account {account:?} is not a valid account name: use 1 to {MAX_ACCOUNT_NAME} ASCII letters, digits, '-' or '_'"
        ))
    }
}

/// Which nodes hold which accounts.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// Each node's name and the URL clients reach it at.
    nodes: BTreeMap<String, String>,
    /// Each account and the nodes that hold it.
    accounts: BTreeMap<String, Vec<String>>,
}

/// Why an assignment file was refused.
#[derive(Debug)]
pub struct AssignmentError(String);

impl fmt::Display for AssignmentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AssignmentError {}

impl Assignment {
    /// Reads and checks the file at `path` for the node named `node`.
    pub fn read(path: &Path, node: &str) -> Result<Assignment, AssignmentError> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| AssignmentError(format!("cannot read {}: {error}", path.display())))?;
        Assignment::parse(&text, node).map_err(|why| AssignmentError(format!("{}: {why}", path.display())))
    }

    /// Parses and checks an assignment for the node named `node`.
    pub fn parse(text: &str, node: &str) -> Result<Assignment, String> {
        let assignment: Assignment =
            serde_json::from_str(text).map_err(|error| format!("not an assignment file: {error}"))?;
        assignment.check(node)?;
        Ok(assignment)
    }

    fn check(&self, node: &str) -> Result<(), String> {
        if self.accounts.len() > MAX_ACCOUNTS {
            return Err(format!("{} accounts; an assignment names at most {MAX_ACCOUNTS}", self.accounts.len()));
        }
        for (name, url) in &self.nodes {
            if name.is_empty() {
                return Err("a node has an empty name".into());
            }
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!("node {name:?} has the URL {url:?}; give http:// or https:// and its address"));
            }
        }
        for (account, holders) in &self.accounts {
            check_account_name(account)?;
            if holders.is_empty() {
                return Err(format!("account {account:?} is held by no node; list at least one"));
            }
            for (position, holder) in holders.iter().enumerate() {
                if !self.nodes.contains_key(holder) {
                    return Err(format!(
                        "account {account:?} names the node {holder:?}, which \"nodes\" does not list"
                    ));
                }
                if holders[..position].contains(holder) {
                    return Err(format!("account {account:?} names the node {holder:?} twice"));
                }
            }
        }
        if !self.nodes.contains_key(node) {
            let known: Vec<&str> = self.nodes.keys().map(String::as_str).collect();
            return Err(format!("this node, {node:?}, is not in \"nodes\" (which lists {})", known.join(", ")));
        }
        if self.held_by(node).next().is_none() {
            return Err(format!("the node {node:?} holds no account; assign it at least one"));
        }
        Ok(())
    }

    /// The accounts `node` holds, in order.
    pub fn held_by<'a>(&'a self, node: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.accounts
            .iter()
            .filter(move |(_, holders)| holders.iter().any(|holder| holder == node))
            .map(|(account, _)| account.as_str())
    }

    /// Every account `node` does not hold, with the nodes that do.
    pub fn elsewhere<'a>(&'a self, node: &'a str) -> impl Iterator<Item = (&'a str, Vec<NodeAddress>)> + 'a {
        self.accounts.iter().filter(move |(_, holders)| !holders.iter().any(|holder| holder == node)).map(
            |(account, holders)| {
                let nodes = holders
                    .iter()
                    .map(|holder| NodeAddress { name: holder.clone(), url: self.nodes[holder].clone() })
                    .collect();
                (account.as_str(), nodes)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLEET: &str = r#"{
        "nodes": {"n1": "http://127.0.0.1:8081", "n2": "http://127.0.0.1:8082"},
        "accounts": {"acme": ["n1", "n2"], "globex": ["n2"], "initech": ["n1"]}
    }"#;

    #[test]
    fn a_node_holds_its_accounts_and_knows_who_holds_the_others() {
        let assignment = Assignment::parse(FLEET, "n1").unwrap();
        assert_eq!(assignment.held_by("n1").collect::<Vec<_>>(), ["acme", "initech"]);
        let elsewhere: Vec<_> = assignment.elsewhere("n1").collect();
        assert_eq!(elsewhere.len(), 1);
        assert_eq!(elsewhere[0].0, "globex");
        assert_eq!(elsewhere[0].1, [NodeAddress { name: "n2".into(), url: "http://127.0.0.1:8082".into() }]);
    }

    #[test]
    fn mistakes_in_the_file_are_named() {
        let refused = |text: &str, node: &str| Assignment::parse(text, node).unwrap_err();
        assert!(refused(FLEET, "n3").contains("\"n3\", is not in \"nodes\""));
        let nodes = r#""nodes": {"n1": "http://a:1"}"#;
        assert!(refused(&format!(r#"{{{nodes}, "accounts": {{"a": ["n9"]}}}}"#), "n1").contains("\"n9\""));
        assert!(refused(&format!(r#"{{{nodes}, "accounts": {{"a": []}}}}"#), "n1").contains("no node"));
        assert!(refused(&format!(r#"{{{nodes}, "accounts": {{"a": ["n1", "n1"]}}}}"#), "n1").contains("twice"));
        assert!(refused(&format!(r#"{{{nodes}, "accounts": {{"a.b": ["n1"]}}}}"#), "n1").contains("not a valid"));
        assert!(refused(&format!(r#"{{{nodes}, "accounts": {{}}}}"#), "n1").contains("holds no account"));
        assert!(refused(r#"{"nodes": {"n1": "a:1"}, "accounts": {"a": ["n1"]}}"#, "n1").contains("http://"));
        assert!(refused(&format!(r#"{{{nodes}, "accounts": {{}}, "extra": 1}}"#), "n1").contains("unknown field"));
    }

    #[test]
    fn account_names_fit_a_subject_token_and_a_directory() {
        for good in ["acme", "5f1e2d3c4b5a697887766554", "a-b_c"] {
            assert!(check_account_name(good).is_ok(), "{good}");
        }
        for bad in ["", "a.b", "a*", ">", "..", "a/b", "a b", "é", &"a".repeat(65)] {
            assert!(check_account_name(bad).is_err(), "{bad:?}");
        }
    }
}
