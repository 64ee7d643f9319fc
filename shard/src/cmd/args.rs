//! Argument parsing with Redis's error texts.

use shoal_proto::number;

use super::{err, CmdError};

/// An integer argument, or `ERR value is not an integer or out of range`.
pub fn int(arg: &[u8]) -> Result<i64, CmdError> {
    number::parse_i64(arg).ok_or(CmdError::Static(err::NOT_INT))
}

/// A float argument, or `ERR value is not a valid float`.
pub fn float(arg: &[u8]) -> Result<f64, CmdError> {
    number::parse_f64(arg).ok_or(CmdError::Static(err::NOT_FLOAT))
}

/// Case-insensitive comparison with an option keyword.
pub fn is(arg: &[u8], keyword: &str) -> bool {
    arg.eq_ignore_ascii_case(keyword.as_bytes())
}
