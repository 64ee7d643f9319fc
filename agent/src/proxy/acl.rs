//! The database's users, enforced by the proxy: the engine lives in the shard crate
//! ([`shoal_shard::acl`]) so that a shard's own TCP port (`cluster_api`) enforces the
//! same users; this adds what comes from the agent's configuration.

pub use shoal_shard::acl::*;

/// A configured database's users as (name, rules) pairs, in configuration order.
pub fn configured_users(db: &shoal_config::Database) -> Vec<(String, String)> {
    db.users
        .iter()
        .map(|u| (u.name.clone(), u.rules.clone()))
        .collect()
}

/// The users of a configured database.
pub fn from_database(db: &shoal_config::Database) -> Result<Acl, UserConfigError> {
    Acl::new(db.password.as_deref(), &configured_users(db))
}

/// Builds every database's users once, so a bad rule in `[[database.user]]` is a
/// configuration error (exit 64, the key named) before anything starts.
pub fn validate_users(config: &shoal_config::Config) -> Result<(), shoal_config::ConfigError> {
    for (i, db) in config.databases.iter().enumerate() {
        from_database(db).map_err(|e| shoal_config::ConfigError::Invalid {
            key: format!("database[{i}].user[{}].rules", e.index),
            message: format!("'{}': {}", e.rule, e.message),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_users_are_validated() {
        let mut config = shoal_config::Config::from_raw(
            shoal_config::RawConfig::from_toml(
                "[[database]]\n[[database.user]]\nname = \"ok\"\nrules = \"on\"\n[[database.user]]\nname = \"x\"\nrules = \"on ~a +@nosuch\"",
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            validate_users(&config).unwrap_err().to_string(),
            "database[0].user[1].rules: '+@nosuch': Unknown command or category name in ACL"
        );
        config.databases[0].users.pop();
        assert!(validate_users(&config).is_ok());
        let users = configured_users(&config.databases[0]);
        assert_eq!(decode_users(&encode_users(&users)), users);
    }
}
