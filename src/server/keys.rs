//! The API keys a server accepts: read from a keys file or the environment,
//! never from command-line values, and refused at start-up when any
//! credential is empty (an empty secret would let anyone sign).

use std::path::Path;

/// One API key: the account it belongs to and its secret.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
pub struct ApiKey {
    /// The account the key belongs to.
    pub account_id: String,
    /// The key, sent as `X-CareHQ-APIKey`.
    pub api_key: String,
    /// The secret that signs requests; never sent, never logged.
    pub api_secret: String,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey").field("account_id", &self.account_id).field("api_key", &self.api_key).finish()
    }
}

/// The keys file: the account this server answers for and the keys it
/// knows (keys of other accounts are refused with 403).
#[derive(Clone, Debug, serde::Deserialize)]
pub struct KeysFile {
    /// The account served.
    pub account_id: String,
    /// Known keys.
    pub keys: Vec<ApiKey>,
}

/// The environment variables of a single key.
const ENVIRONMENT: [&str; 3] = ["MSGDEX_ACCOUNT_ID", "MSGDEX_API_KEY", "MSGDEX_API_SECRET"];

impl KeysFile {
    /// Reads and validates a keys file (JSON).
    pub fn read(path: &Path) -> Result<KeysFile, String> {
        let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let keys: KeysFile =
            serde_json::from_str(&text).map_err(|error| format!("{} is not a keys file: {error}", path.display()))?;
        keys.validate().map_err(|problem| format!("{}: {problem}", path.display()))?;
        Ok(keys)
    }

    /// One key from the environment: `MSGDEX_ACCOUNT_ID`, `MSGDEX_API_KEY`
    /// and `MSGDEX_API_SECRET`. `Ok(None)` when none is set; an error when
    /// only some are set, or any is empty (an unset template variable).
    pub fn from_environment() -> Result<Option<KeysFile>, String> {
        let values: Vec<Option<String>> = ENVIRONMENT.iter().map(|name| std::env::var(name).ok()).collect();
        if values.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut present = Vec::with_capacity(3);
        for (name, value) in ENVIRONMENT.iter().zip(values) {
            match value {
                None => return Err(format!("{name} is not set; set all three of {}", ENVIRONMENT.join(", "))),
                Some(value) if value.is_empty() => {
                    return Err(format!("{name} is empty; every credential must be a non-empty string"))
                }
                Some(value) => present.push(value),
            }
        }
        let [account_id, api_key, api_secret]: [String; 3] = present.try_into().expect("three variables");
        Ok(Some(KeysFile { account_id: account_id.clone(), keys: vec![ApiKey { account_id, api_key, api_secret }] }))
    }

    /// Refuses an empty account, no keys, a key with an empty field, and a
    /// key listed twice.
    pub fn validate(&self) -> Result<(), String> {
        if self.account_id.is_empty() {
            return Err("`account_id` is empty; name the account this server answers for".into());
        }
        if self.keys.is_empty() {
            return Err("the keys file holds no keys".into());
        }
        for (position, key) in self.keys.iter().enumerate() {
            for (field, value) in
                [("account_id", &key.account_id), ("api_key", &key.api_key), ("api_secret", &key.api_secret)]
            {
                if value.is_empty() {
                    return Err(format!(
                        "key {} has an empty `{field}`; every credential must be a non-empty string",
                        position + 1
                    ));
                }
            }
            if self.keys[..position].iter().any(|earlier| earlier.api_key == key.api_key) {
                return Err(format!(
                    "key {} repeats the `api_key` {:?}; list each key once",
                    position + 1,
                    key.api_key
                ));
            }
        }
        Ok(())
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
        };
        let file = |account: &str, keys: Vec<ApiKey>| KeysFile { account_id: account.into(), keys };
        assert!(file("a", vec![key("a", "k", "s")]).validate().is_ok());
        assert!(file("", vec![key("a", "k", "s")]).validate().unwrap_err().contains("account_id"));
        assert!(file("a", vec![]).validate().unwrap_err().contains("no keys"));
        assert!(file("a", vec![key("a", "k", "")]).validate().unwrap_err().contains("key 1 has an empty `api_secret`"));
        assert!(file("a", vec![key("a", "k", "s"), key("a", "", "s")]).validate().unwrap_err().contains("key 2"));
        assert!(file("a", vec![key("", "k", "s")]).validate().unwrap_err().contains("`account_id`"));
        assert!(file("a", vec![key("a", "k", "s"), key("a", "k", "t")]).validate().unwrap_err().contains("repeats"));
        assert!(!format!("{:?}", key("a", "k", "secret-text")).contains("secret-text"), "secrets never reach logs");
    }
}
