//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP over the parameter table in
//! [`crate::config::table`].

use bytes::Bytes;

use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::config::table;

/// CONFIG GET parameter [parameter ...]
pub fn get(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    let patterns: Vec<&[u8]> = argv[2..].iter().map(|a| &a[..]).collect();
    let found = table::get_matching(&ctx.srv.config, &patterns);
    ctx.out.map(found.len());
    for (name, value) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// CONFIG SET parameter value [parameter value ...] — all or nothing.
pub fn set(ctx: &mut Ctx<'_>, argv: &[Bytes]) -> CmdResult {
    if !argv.len().is_multiple_of(2) {
        return Err(err::SYNTAX.into());
    }
    let texts: Vec<String> = argv[2..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let pairs: Vec<(&str, &str)> = texts
        .chunks(2)
        .map(|p| (p[0].as_str(), p[1].as_str()))
        .collect();
    let changed =
        table::set_many(&mut ctx.srv.config, &pairs).map_err(|e| CmdError::Owned(e.to_string()))?;
    for name in changed {
        tracing::info!(param = name, "configuration changed");
        if name == "requirepass" {
            // Redis's requirepass is the `default` user's password.
            let pass = ctx.srv.config.requirepass.clone();
            ctx.srv.acl.set_default_password(pass.as_deref());
        }
        if name == "appendfsync" || name == "appendonly" {
            crate::persist::config_changed(ctx.srv).map_err(CmdError::Owned)?;
        }
    }
    ctx.out.ok();
    Ok(())
}

/// CONFIG RESETSTAT
pub fn resetstat(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    ctx.srv.stats.reset();
    ctx.srv.db.stats = Default::default();
    ctx.out.ok();
    Ok(())
}

/// CONFIG REWRITE — a shard's settings come from the agent's TOML file and flags, never
/// from a redis.conf it could rewrite, so this always reports Redis's no-file error.
pub fn rewrite(_ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    Err("ERR The server is running without a config file".into())
}

/// CONFIG HELP
pub fn help(ctx: &mut Ctx<'_>, _argv: &[Bytes]) -> CmdResult {
    super::help_reply(
        ctx.out,
        "config",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}
