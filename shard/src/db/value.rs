//! The value stored under a key, and the names Redis gives its types and encodings.

use super::sds::Sds;

/// Strings longer than this use Redis's `raw` encoding instead of `embstr`.
const EMBSTR_MAX: usize = 44;

#[derive(Debug, Clone)]
pub enum Value {
    Str(Sds),
}

impl Value {
    pub fn str(data: &[u8]) -> Value {
        Value::Str(Sds::new(data))
    }

    /// The name `TYPE` reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// The name `OBJECT ENCODING` reports, following Redis's rules.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => {
                if s.len() <= 20 && shoal_proto::number::parse_i64(s).is_some() {
                    "int"
                } else if s.len() <= EMBSTR_MAX {
                    "embstr"
                } else {
                    "raw"
                }
            }
        }
    }

    /// Approximate heap bytes owned by the value, for `MEMORY USAGE`-style accounting.
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_size(),
        }
    }
}
