//! The API keys a server accepts: read from a keys file or the environment,
//! never from command-line values, and refused at start-up when any
//! credential is empty (an empty secret would let anyone sign).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// One API key: the account it belongs to, its secret, and what it may do.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// The account the key belongs to.
    pub account_id: String,
    /// The key, sent as `X-CareHQ-APIKey`.
    pub api_key: String,
    /// The secret that signs requests; never sent, never logged.
    pub api_secret: String,
    /// What the key may do: `"scopes": ["read", "write"]` in the file;
    /// read-only when left out.
    #[serde(default)]
    pub scopes: Scopes,
}

/// What an API key may do. Every key reads; only a key given the `write`
/// scope may write, so that a key handed to a reader cannot change data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    /// Whether the key may write (PUT, DELETE, batches).
    pub write: bool,
}

impl Scopes {
    /// Reading only: the default.
    pub const READ: Scopes = Scopes { write: false };
    /// Reading and writing.
    pub const READ_WRITE: Scopes = Scopes { write: true };
}

impl<'de> serde::Deserialize<'de> for Scopes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Scopes, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        let mut scopes = Scopes::READ;
        for name in &names {
            match name.as_str() {
                "read" => {}
                "write" => scopes.write = true,
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown scope {other:?}; the scopes are \"read\" and \"write\""
                    )))
                }
            }
        }
        Ok(scopes)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("account_id", &self.account_id)
            .field("api_key", &self.api_key)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The keys file: the account this server answers for and the keys it
/// knows (keys of other accounts are refused with 403).
///
/// A node holding several accounts takes a file without `account_id`:
/// each request's key must then belong to the account the request names.
#[derive(Clone, Debug, serde::Deserialize)]
pub struct KeysFile {
    /// The account served; empty (absent from the file) for the keys of
    /// several accounts.
    #[serde(default)]
    pub account_id: String,
    /// Known keys.
    pub keys: Vec<ApiKey>,
}

/// The environment variables of a single key.
const ENVIRONMENT: [&str; 3] = ["MSGDEX_ACCOUNT_ID", "MSGDEX_API_KEY", "MSGDEX_API_SECRET"];

/// Why keys were refused: the file or variable, and what is wrong.
#[derive(Debug)]
pub enum KeysError {
    /// The keys file could not be read.
    Unreadable {
        /// The keys file.
        path: PathBuf,
        /// The operating system's error.
        error: io::Error,
    },
    /// The keys file is not JSON of a keys file's shape.
    NotAKeysFile {
        /// The keys file.
        path: PathBuf,
        /// The JSON parser's error.
        error: serde_json::Error,
    },
    /// The keys are refused (see [`KeysFile::validate`]).
    Invalid {
        /// The keys file they came from, if any.
        path: Option<PathBuf>,
        /// What is wrong with them.
        problem: KeysProblem,
    },
    /// Some of the key's environment variables are set, and this one is not.
    VariableNotSet(&'static str),
    /// This environment variable of the key is set, and empty.
    VariableEmpty(&'static str),
    /// `MSGDEX_API_SCOPES` names an unknown scope.
    BadScopes(String),
}

/// What [`KeysFile::validate`] refuses in a set of keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeysProblem {
    /// There is no key.
    NoKeys,
    /// A key has an empty credential.
    EmptyCredential {
        /// The key's position in the file, from 1.
        key: usize,
        /// The empty field: `account_id`, `api_key` or `api_secret`.
        field: &'static str,
    },
    /// A key has the `api_key` of an earlier one.
    RepeatedKey {
        /// The later key's position in the file, from 1.
        key: usize,
        /// The repeated `api_key`.
        api_key: String,
    },
}

impl fmt::Display for KeysProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeysProblem::NoKeys => f.write_str("the keys file holds no keys"),
            KeysProblem::EmptyCredential { key, field } => {
                write!(f, "key {key} has an empty `{field}`; every credential must be a non-empty string")
            }
            KeysProblem::RepeatedKey { key, api_key } => {
                write!(f, "key {key} repeats the `api_key` {api_key:?}; list each key once")
            }
        }
    }
}

impl fmt::Display for KeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeysError::Unreadable { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            KeysError::NotAKeysFile { path, error } => write!(f, "{} is not a keys file: {error}", path.display()),
            KeysError::Invalid { path: Some(path), problem } => write!(f, "{}: {problem}", path.display()),
            KeysError::Invalid { path: None, problem } => problem.fmt(f),
            KeysError::VariableNotSet(name) => {
                write!(f, "{name} is not set; set all three of {}", ENVIRONMENT.join(", "))
            }
            KeysError::VariableEmpty(name) => {
                write!(f, "{name} is empty; every credential must be a non-empty string")
            }
            KeysError::BadScopes(problem) => write!(f, "{SCOPES_VARIABLE}: {problem}"),
        }
    }
}

impl std::error::Error for KeysError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeysError::Unreadable { error, .. } => Some(error),
            KeysError::NotAKeysFile { error, .. } => Some(error),
            KeysError::Invalid { .. }
            | KeysError::VariableNotSet(_)
            | KeysError::VariableEmpty(_)
            | KeysError::BadScopes(_) => None,
        }
    }
}

/// The scopes of the key from the environment: `MSGDEX_API_SCOPES`, a
/// comma-separated list (`read,write`); read-only when unset.
fn environment_scopes() -> Result<Scopes, KeysError> {
    let Ok(text) = std::env::var(SCOPES_VARIABLE) else {
        return Ok(Scopes::READ);
    };
    let names: Vec<&str> = text.split(',').map(str::trim).filter(|name| !name.is_empty()).collect();
    serde_json::from_value(serde_json::json!(names)).map_err(|error| KeysError::BadScopes(error.to_string()))
}

/// The environment variable of the key's scopes.
const SCOPES_VARIABLE: &str = "MSGDEX_API_SCOPES";

impl KeysFile {
    /// Reads and validates a keys file (JSON).
    pub fn read(path: &Path) -> Result<KeysFile, KeysError> {
        let text =
            std::fs::read_to_string(path).map_err(|error| KeysError::Unreadable { path: path.to_owned(), error })?;
        let keys: KeysFile =
            serde_json::from_str(&text).map_err(|error| KeysError::NotAKeysFile { path: path.to_owned(), error })?;
        keys.problem().map_or(Ok(keys), |problem| Err(KeysError::Invalid { path: Some(path.to_owned()), problem }))
    }

    /// One key from the environment: `MSGDEX_ACCOUNT_ID`, `MSGDEX_API_KEY`
    /// and `MSGDEX_API_SECRET`. `Ok(None)` when none is set; an error when
    /// only some are set, or any is empty (an unset template variable).
    pub fn from_environment() -> Result<Option<KeysFile>, KeysError> {
        let values: Vec<Option<String>> = ENVIRONMENT.iter().map(|name| std::env::var(name).ok()).collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut present = Vec::with_capacity(3);
        for (&name, value) in ENVIRONMENT.iter().zip(values) {
            match value {
                None => return Err(KeysError::VariableNotSet(name)),
                Some(value) if value.is_empty() => return Err(KeysError::VariableEmpty(name)),
                Some(value) => present.push(value),
            }
        }
        let [account_id, api_key, api_secret]: [String; 3] = present.try_into().expect("three variables");
        let key = ApiKey { account_id: account_id.clone(), api_key, api_secret, scopes: environment_scopes()? };
        Ok(Some(KeysFile { account_id, keys: vec![key] }))
    }

    /// Refuses no keys, a key with an empty field, and a
    /// key listed twice.
    pub fn validate(&self) -> Result<(), KeysError> {
        self.problem().map_or(Ok(()), |problem| Err(KeysError::Invalid { path: None, problem }))
    }

    /// The first problem [`KeysFile::validate`] refuses, if any.
    fn problem(&self) -> Option<KeysProblem> {
        if self.keys.is_empty() {
            return Some(KeysProblem::NoKeys);
        }
        for (position, key) in self.keys.iter().enumerate() {
            for (field, value) in
                [("account_id", &key.account_id), ("api_key", &key.api_key), ("api_secret", &key.api_secret)]
            {
                if value.is_empty() {
                    return Some(KeysProblem::EmptyCredential { key: position + 1, field });
                }
            }
            if self.keys[..position].iter().any(|earlier| earlier.api_key == key.api_key) {
                return Some(KeysProblem::RepeatedKey { key: position + 1, api_key: key.api_key.clone() });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_repeated_credentials_are_named() {
        let key = |account: &str, name: &str, secret: &str| ApiKey {
            account_id: account.into(),
            api_key: name.into(),
            api_secret: secret.into(),
            scopes: Scopes::READ,
        };
        let file = |account: &str, keys: Vec<ApiKey>| KeysFile { account_id: account.into(), keys };
        let problem = |file: KeysFile| match file.validate() {
            Err(KeysError::Invalid { path: None, problem }) => Some(problem),
            Err(other) => panic!("validate gave {other:?}"),
            Ok(()) => None,
        };
        let words = |file: KeysFile| file.validate().unwrap_err().to_string();
        assert_eq!(problem(file("a", vec![key("a", "k", "s")])), None);
        assert_eq!(problem(file("", vec![key("a", "k", "s"), key("b", "l", "s")])), None, "a fleet's keys");
        assert!(words(file("a", vec![])).contains("no keys"));
        assert!(words(file("a", vec![key("a", "k", "")])).contains("key 1 has an empty `api_secret`"));
        assert_eq!(
            problem(file("a", vec![key("a", "k", "s"), key("a", "", "s")])),
            Some(KeysProblem::EmptyCredential { key: 2, field: "api_key" })
        );
        assert!(words(file("a", vec![key("", "k", "s")])).contains("`account_id`"));
        assert!(words(file("a", vec![key("a", "k", "s"), key("a", "k", "t")])).contains("repeats"));
        assert!(!format!("{:?}", key("a", "k", "secret-text")).contains("secret-text"), "secrets never reach logs");
    }

    #[test]
    fn a_keys_file_is_named_in_its_errors() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("keys.json");
        let missing = KeysFile::read(&path).unwrap_err();
        assert!(matches!(&missing, KeysError::Unreadable { .. }), "{missing:?}");
        assert!(missing.to_string().starts_with(&format!("cannot read {}: ", path.display())), "{missing}");
        assert!(std::error::Error::source(&missing).is_some_and(|source| source.is::<io::Error>()));
        std::fs::write(&path, "{").unwrap();
        let malformed = KeysFile::read(&path).unwrap_err();
        assert!(malformed.to_string().starts_with(&format!("{} is not a keys file: ", path.display())), "{malformed}");
        std::fs::write(&path, r#"{"account_id": "a", "keys": []}"#).unwrap();
        let empty = KeysFile::read(&path).unwrap_err();
        assert_eq!(empty.to_string(), format!("{}: the keys file holds no keys", path.display()));
        assert!(matches!(empty, KeysError::Invalid { path: Some(_), problem: KeysProblem::NoKeys }));
    }
}
