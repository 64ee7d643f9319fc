//! Helpers shared by shoal's integration and differential tests.
