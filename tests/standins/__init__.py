"""Stand-ins for vendors' servers, one module per vendor, on loopback."""
