"""Stand-ins for vendors' servers on loopback, one module per vendor, written from their
documentation (../shared/reference/integrations.md): strict about what they are sent,
able to fail the way the real ones do, and keeping what they received for tests to check."""
